import { createHash } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import { MalformedError } from '../protocol/errors.ts';
import { decodeNix32, encodeNix32, NIX32_ALPHABET, nix32Length } from '../protocol/nix32.ts';
import { VECTORS } from './helpers/nix-fixtures.ts';

const EMPTY_SHA256_NIX32 = '0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73';

test('sha256("") encodes to the nix32 string Nix prints', (t) => {
  const hash = new Uint8Array(createHash('sha256').update('').digest());
  t.is(encodeNix32(hash), EMPTY_SHA256_NIX32);
  t.deepEqual(decodeNix32(EMPTY_SHA256_NIX32, 32), hash);
});

test('lengths: 32 bytes are 52 chars, 20 bytes are 32 chars, 0 bytes are empty', (t) => {
  t.is(nix32Length(32), 52);
  t.is(nix32Length(20), 32);
  t.is(encodeNix32(new Uint8Array(0)), '');
  t.deepEqual(decodeNix32('', 0), new Uint8Array(0));
});

for (const v of VECTORS.vectors) {
  test(`${v.name}: NarHash hex <-> nix32 as Nix wrote it`, (t) => {
    const bytes = new Uint8Array(Buffer.from(v.narHashHex, 'hex'));
    t.is(`sha256:${encodeNix32(bytes)}`, v.narHash);
    t.deepEqual(decodeNix32(v.narHash.slice('sha256:'.length), 32), bytes);
  });
}

for (const v of VECTORS.vectors) {
  test(`${v.name}: store path hash part round-trips as 20 bytes`, (t) => {
    t.is(encodeNix32(decodeNix32(v.hashPart, 20)), v.hashPart);
  });
}

test('round trip: decode(encode(bytes)) == bytes for any length', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      const text = encodeNix32(bytes);
      t.is(text.length, nix32Length(bytes.length));
      t.deepEqual(decodeNix32(text, bytes.length), bytes);
    }),
  );
});

test('round trip: every canonical 52-char string decodes and re-encodes to itself', (t) => {
  const char = fc.constantFrom(...NIX32_ALPHABET);
  // 256 of 260 bits are used: the first char holds only one data bit.
  const text = fc
    .tuple(fc.constantFrom('0', '1'), fc.array(char, { minLength: 51, maxLength: 51 }))
    .map(([first, rest]) => first + rest.join(''));
  fc.assert(
    fc.property(text, (s) => {
      t.is(encodeNix32(decodeNix32(s, 32)), s);
    }),
  );
});

const REJECTS: [string, string, number][] = [
  ['51 chars for 32 bytes', EMPTY_SHA256_NIX32.slice(1), 32],
  ['53 chars for 32 bytes', `0${EMPTY_SHA256_NIX32}`, 32],
  ['a 52-char hash read as 20 bytes', EMPTY_SHA256_NIX32, 20],
  ['letter e (not in the alphabet)', `e${EMPTY_SHA256_NIX32.slice(1)}`, 32],
  ['letter o', `${EMPTY_SHA256_NIX32.slice(0, 51)}o`, 32],
  ['letter t', `0t${EMPTY_SHA256_NIX32.slice(2)}`, 32],
  ['letter u', `0u${EMPTY_SHA256_NIX32.slice(2)}`, 32],
  ['uppercase', EMPTY_SHA256_NIX32.toUpperCase(), 32],
  ['non-ASCII char', `\u00e9${EMPTY_SHA256_NIX32.slice(1)}`, 32],
  ['NUL char', `\0${EMPTY_SHA256_NIX32.slice(1)}`, 32],
  ['unused high bits set (first char 2)', `2${EMPTY_SHA256_NIX32.slice(1)}`, 32],
  ['unused high bits set (first char z)', `z${EMPTY_SHA256_NIX32.slice(1)}`, 32],
  ['unused high bits set for 1 byte (2 chars)', 'z0', 1],
];

for (const [what, text, size] of REJECTS) {
  test(`decode rejects ${what} with MalformedError`, (t) => {
    t.throws(() => decodeNix32(text, size), { instanceOf: MalformedError });
  });
}
