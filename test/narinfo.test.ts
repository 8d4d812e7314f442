import test from 'ava';
import { MAX_NARINFO_BYTES } from '../protocol/constants.ts';
import { MalformedError, TooLargeError } from '../protocol/errors.ts';
import { formatNarinfo, type Narinfo, parseNarinfo } from '../protocol/narinfo.ts';
import { narinfoFingerprint } from '../protocol/narinfo-signature.ts';
import { encodeNix32 } from '../protocol/nix32.ts';
import { fixture, type NixVector, VECTORS } from './helpers/nix-fixtures.ts';

const decoder = new TextDecoder();
const nix32 = (hash: Uint8Array | undefined) =>
  hash === undefined ? undefined : `sha256:${encodeNix32(hash)}`;
const baseName = (path: string) => path.slice('/nix/store/'.length);

const CACHES = [
  {
    cache: 'binary-cache-xz',
    file: (v: NixVector) => v.narinfoXz,
    expect: (v: NixVector) => v.fileXz,
    compression: 'xz',
  },
  {
    cache: 'binary-cache-none',
    file: (v: NixVector) => v.narinfoNone,
    expect: (v: NixVector) => v.fileNone,
    compression: 'none',
  },
];

for (const { cache, file, expect, compression } of CACHES) {
  for (const v of VECTORS.vectors) {
    test(`${cache} ${v.name}: every field parses as vectors.json says, and re-formats byte for byte`, (t) => {
      const bytes = fixture(file(v));
      const info = parseNarinfo(bytes);
      t.is(info.storePath, v.storePath);
      t.is(info.url, expect(v).url);
      t.is(info.compression, compression);
      t.is(nix32(info.fileHash), expect(v).fileHash);
      t.is(info.fileSize, expect(v).fileSize);
      t.is(nix32(info.narHash), v.narHash);
      t.is(Buffer.from(info.narHash).toString('hex'), v.narHashHex);
      t.is(info.narSize, v.narSize);
      t.deepEqual(info.references, v.references.map(baseName));
      t.is(info.deriver, baseName(v.deriver));
      t.deepEqual(info.sigs, [v.sigTrustixTest1]);
      t.is(info.system, undefined);
      t.is(info.ca, undefined);
      t.deepEqual(info.extra, []);
      t.is(narinfoFingerprint(info), v.fingerprint);
      t.is(formatNarinfo(info), decoder.decode(bytes));
    });
  }
}

// A well-formed narinfo to break one way at a time.
const WITHREF = VECTORS.vectors.find((v) => v.name === 'tv-withref')!;
const GOOD = decoder.decode(fixture(WITHREF.narinfoXz));
const lines = GOOD.slice(0, -1).split('\n');
const without = (key: string) => `${lines.filter((l) => !l.startsWith(`${key}: `)).join('\n')}\n`;
const replaced = (key: string, value: string) =>
  `${lines.map((l) => (l.startsWith(`${key}: `) ? `${key}: ${value}` : l)).join('\n')}\n`;

test('accepts NarHash in hex, sha256:base64 and SRI; normalizes to nix32 with the same fingerprint', (t) => {
  const b64 = Buffer.from(WITHREF.narHashHex, 'hex').toString('base64');
  for (const spelling of [`sha256:${WITHREF.narHashHex}`, `sha256:${b64}`, WITHREF.narHashSRI]) {
    const info = parseNarinfo(replaced('NarHash', spelling));
    t.is(narinfoFingerprint(info), WITHREF.fingerprint, spelling);
    t.is(formatNarinfo(info), GOOD, spelling);
  }
});

test('unknown fields are kept in order and written after the known ones', (t) => {
  const text = `${GOOD}X-Extra: one\nCA: fixed:r:sha256:abc\nX-Extra: two\n`;
  const info = parseNarinfo(text);
  t.deepEqual(info.extra, [
    { key: 'X-Extra', value: 'one' },
    { key: 'X-Extra', value: 'two' },
  ]);
  t.is(info.ca, 'fixed:r:sha256:abc');
  t.is(formatNarinfo(info), `${GOOD}CA: fixed:r:sha256:abc\nX-Extra: one\nX-Extra: two\n`);
});

test('several Sig lines, System, absent References and "unknown-deriver" parse', (t) => {
  const text = `${without('References').replace(/^Deriver: .*$/m, 'Deriver: unknown-deriver')}System: x86_64-linux\nSig: other-key:${WITHREF.sigTrustixTest2.split(':')[1]}\n`;
  const info = parseNarinfo(text);
  t.is(info.references, undefined);
  t.is(info.deriver, undefined);
  t.is(info.system, 'x86_64-linux');
  t.is(info.sigs.length, 2);
  t.is(narinfoFingerprint(info), WITHREF.fingerprint.replace(/;[^;]*$/, ';'));
});

test('format refuses a value that would break the line structure', (t) => {
  const info: Narinfo = { ...parseNarinfo(GOOD), url: 'nar/x.nar\nSig: forged:AAAA' };
  t.throws(() => formatNarinfo(info), { instanceOf: MalformedError });
  const extra: Narinfo = { ...parseNarinfo(GOOD), extra: [{ key: 'A: B', value: 'c' }] };
  t.throws(() => formatNarinfo(extra), { instanceOf: MalformedError });
});

test(`oversized narinfo (MAX_NARINFO_BYTES + 1) is refused with TooLargeError before parsing`, (t) => {
  const big = new Uint8Array(MAX_NARINFO_BYTES + 1).fill(0x0a);
  const error = t.throws(() => parseNarinfo(big), { instanceOf: TooLargeError });
  t.is(error.size, MAX_NARINFO_BYTES + 1);
  t.throws(() => parseNarinfo(`${GOOD}X: ${'a'.repeat(MAX_NARINFO_BYTES)}\n`), { instanceOf: TooLargeError });
});

const REJECTS: [string, string | Uint8Array][] = [
  ['CRLF line endings', GOOD.replaceAll('\n', '\r\n')],
  ['a lone CR inside a value', GOOD.replace('Compression: xz', 'Compression: x\rz')],
  ['missing final newline', GOOD.slice(0, -1)],
  ['an empty document', ''],
  ['an empty line', `${GOOD}\n`],
  ['a line without a colon', `${GOOD}garbage\n`],
  ['"Key:value" without the space', GOOD.replace('Compression: xz', 'Compression:xz')],
  ['an empty key', `${GOOD}: value\n`],
  ['missing StorePath', without('StorePath')],
  ['missing URL', without('URL')],
  ['missing NarHash', without('NarHash')],
  ['missing NarSize', without('NarSize')],
  ['duplicate StorePath', `${GOOD}StorePath: ${WITHREF.storePath}\n`],
  ['duplicate NarHash', `${GOOD}NarHash: ${WITHREF.narHash}\n`],
  ['duplicate References', `${GOOD}References: \n`],
  ['empty URL', replaced('URL', '')],
  ['empty Compression', replaced('Compression', '')],
  ['NarSize with a leading zero', replaced('NarSize', '0592')],
  ['NarSize 0', replaced('NarSize', '0')],
  ['negative NarSize', replaced('NarSize', '-592')],
  ['NarSize with a plus sign', replaced('NarSize', '+592')],
  ['NarSize in hex', replaced('NarSize', '0x250')],
  ['NarSize with a trailing space', replaced('NarSize', '592 ')],
  ['NarSize over 2^53-1', replaced('NarSize', '9007199254740992')],
  ['FileSize not a number', replaced('FileSize', 'big')],
  ['NarHash with md5', replaced('NarHash', 'md5:00000000000000000000000000000000')],
  ['NarHash with sha512', replaced('NarHash', `sha512:${'0'.repeat(128)}`)],
  ['NarHash without algorithm', replaced('NarHash', WITHREF.narHash.slice(7))],
  ['NarHash nix32 one char short', replaced('NarHash', WITHREF.narHash.slice(0, -1))],
  ['NarHash nix32 with an invalid char', replaced('NarHash', `${WITHREF.narHash.slice(0, -1)}e`)],
  ['NarHash nix32 non-canonical', replaced('NarHash', `sha256:z${WITHREF.narHash.slice(8)}`)],
  ['NarHash in uppercase hex', replaced('NarHash', `sha256:${WITHREF.narHashHex.toUpperCase()}`)],
  ['NarHash SRI without padding', replaced('NarHash', WITHREF.narHashSRI.replace('=', ''))],
  ['FileHash garbage', replaced('FileHash', 'sha256:nope')],
  ['StorePath outside the store dir', replaced('StorePath', WITHREF.storePath.replace('/nix/store', '/tmp'))],
  ['StorePath with a bad name', replaced('StorePath', `${WITHREF.storePath}/bin`)],
  ['a reference with a bad hash part', replaced('References', 'xlyi2n3g389xnbz7z77bkdzk3vbfw53-tv-file')],
  ['a full path in References', replaced('References', WITHREF.references[0]!)],
  [
    'a duplicate reference',
    replaced('References', `${baseName(WITHREF.references[0]!)} ${baseName(WITHREF.references[0]!)}`),
  ],
  ['References separated by two spaces', replaced('References', WITHREF.references.map(baseName).join('  '))],
  [
    'References with a trailing space',
    replaced('References', `${WITHREF.references.map(baseName).join(' ')} `),
  ],
  ['a bad Deriver', replaced('Deriver', 'not-a-store-path')],
  ['a Sig without a key name', replaced('Sig', `:${WITHREF.sigTrustixTest1.split(':')[1]}`)],
  ['a Sig without a colon', replaced('Sig', 'trustix-test-1')],
  ['a Sig of 63 bytes', replaced('Sig', `k:${Buffer.alloc(63).toString('base64')}`)],
  [
    'a Sig with non-canonical base64',
    replaced('Sig', `k:${Buffer.alloc(64).toString('base64').replace('A==', 'B==')}`),
  ],
  ['a byte-order mark', `\ufeff${GOOD}`],
  ['invalid UTF-8', new Uint8Array([...Buffer.from(GOOD), 0x58, 0x3a, 0x20, 0xff, 0x0a])],
];

for (const [what, input] of REJECTS) {
  test(`narinfo rejects ${what} with MalformedError`, (t) => {
    t.throws(() => parseNarinfo(input), { instanceOf: MalformedError });
  });
}
