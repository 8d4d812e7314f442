import test from 'ava';
import { MAX_KEY_NAME_BYTES } from '../protocol/constants.ts';
import { MalformedError } from '../protocol/errors.ts';
import {
  formatSignerKey,
  formatVkey,
  isValidKeyName,
  keyHash,
  noteSigner,
  parseSignerKey,
  parseVkey,
} from '../protocol/vkey.ts';

// golang/mod sumdb/note test keys (also in ../shared/tlog-vectors/signed-note/note-vectors.json).
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';

test('parseVkey reads name, key hash and key; formatVkey writes the same string', (t) => {
  const v = parseVkey(PETER_VKEY);
  t.is(v.name, 'PeterNeumann');
  t.is(v.keyHash, 0xc74f20a3);
  t.is(keyHash(v.name, v.publicKey), 0xc74f20a3);
  t.is(formatVkey(v.name, v.publicKey), PETER_VKEY);
});

test('parseSignerKey derives the key whose vkey is the published one; formatSignerKey round-trips', (t) => {
  const s = parseSignerKey(PETER_SKEY);
  t.is(formatVkey(s.name, s.publicKey), PETER_VKEY);
  t.is(formatSignerKey(s), PETER_SKEY);
});

test('a key hash with a leading zero is written with 8 digits', (t) => {
  // Search a seed whose key hash is below 0x10000000.
  for (let i = 0; i < 256; i++) {
    const s = noteSigner('zero.example', new Uint8Array(32).fill(i));
    if (s.keyHash < 0x10000000) {
      const vkey = formatVkey(s.name, s.publicKey);
      t.regex(vkey, /^zero\.example\+0[0-9a-f]{7}\+/);
      t.is(parseVkey(vkey).keyHash, s.keyHash);
      return;
    }
  }
  t.fail('no seed with a small key hash found');
});

const [, , PETER_B64] = PETER_VKEY.split('+') as [string, string, string];
const badVkeys: [string, string][] = [
  ['an empty string', ''],
  ['no plus', 'PeterNeumann'],
  ['one plus', 'PeterNeumann+c74f20a3'],
  ['an empty name', `+c74f20a3+${PETER_B64}`],
  ['a space in the name', `Peter Neumann+c74f20a3+${PETER_B64}`],
  ['a tab in the name', `Peter\tNeumann+c74f20a3+${PETER_B64}`],
  ['an uppercase key hash', `PeterNeumann+C74F20A3+${PETER_B64}`],
  ['a 7-digit key hash', `PeterNeumann+c74f20a+${PETER_B64}`],
  ['a 9-digit key hash', `PeterNeumann+0c74f20a3+${PETER_B64}`],
  ['a key hash that does not match', `PeterNeumann+c74f20a4+${PETER_B64}`],
  ['key material with padding added', `${PETER_VKEY}=`],
  ['key material cut short', PETER_VKEY.slice(0, -4)],
  ['key material in URL-safe base64', PETER_VKEY.replace('/', '_')],
  ['a trailing newline', `${PETER_VKEY}\n`],
  ['a trailing space', `${PETER_VKEY} `],
  ['an oversized vkey', `${'n'.repeat(MAX_KEY_NAME_BYTES + 1)}+c74f20a3+${PETER_B64}`],
  ['a signer key', PETER_SKEY],
];
for (const [title, vkey] of badVkeys) {
  test(`parseVkey refuses ${title} with MalformedError`, (t) => {
    t.throws(() => parseVkey(vkey), { instanceOf: MalformedError });
  });
}

const badSkeys: [string, string][] = [
  ['a vkey', PETER_VKEY],
  ['a lowercase prefix', PETER_SKEY.replace('PRIVATE+KEY', 'private+key')],
  ['a key hash that does not match the derived key', PETER_SKEY.replace('c74f20a3', 'c74f20a4')],
  ['a truncated seed', PETER_SKEY.slice(0, -4)],
];
for (const [title, skey] of badSkeys) {
  test(`parseSignerKey refuses ${title} with MalformedError`, (t) => {
    t.throws(() => parseSignerKey(skey), { instanceOf: MalformedError });
  });
}

test('key names: non-empty, at most MAX_KEY_NAME_BYTES UTF-8 bytes, no spaces, plus or controls', (t) => {
  t.true(isValidKeyName('example.com/foo'));
  t.true(isValidKeyName('ключ'));
  t.true(isValidKeyName('n'.repeat(MAX_KEY_NAME_BYTES)));
  t.false(isValidKeyName('n'.repeat(MAX_KEY_NAME_BYTES + 1)));
  t.false(isValidKeyName('é'.repeat(MAX_KEY_NAME_BYTES / 2 + 1)), 'counted in UTF-8 bytes');
  for (const bad of ['', 'a b', 'a+b', 'a\tb', 'a\u00a0b', 'a\u2003b', 'a\u0085b', 'a\u007fb', 'a\uD800b']) {
    t.false(isValidKeyName(bad), JSON.stringify(bad));
  }
  t.throws(() => formatVkey('a b', new Uint8Array(32)), { instanceOf: MalformedError });
  t.throws(() => formatVkey('ab', new Uint8Array(31)), { instanceOf: MalformedError });
  t.throws(() => noteSigner('a+b', new Uint8Array(32)), { instanceOf: MalformedError });
});
