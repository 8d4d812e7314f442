import test from 'ava';
import { MalformedError } from '../protocol/errors.ts';
import { formatNarinfo, parseNarinfo } from '../protocol/narinfo.ts';
import {
  narinfoFingerprint,
  narinfoSignedBy,
  parseNarinfoSignature,
  signFingerprint,
  signNarinfo,
  verifyFingerprint,
} from '../protocol/narinfo-signature.ts';
import { fixture, testKey, VECTORS } from './helpers/nix-fixtures.ts';

const KEY1 = testKey('trustix-test-1');
const KEY2 = testKey('trustix-test-2');

for (const v of VECTORS.vectors) {
  test(`${v.name}: the fingerprint of the narinfo equals vectors.json`, (t) => {
    t.is(narinfoFingerprint(parseNarinfo(fixture(v.narinfoXz))), v.fingerprint);
    t.is(narinfoFingerprint(parseNarinfo(fixture(v.narinfoNone))), v.fingerprint);
  });
}

for (const v of VECTORS.vectors) {
  test(`${v.name}: trustix-test-1 reproduces Nix's own Sig byte for byte, and it verifies`, (t) => {
    const info = parseNarinfo(fixture(v.narinfoXz));
    t.is(signNarinfo(info, KEY1.name, KEY1.signing), v.sigTrustixTest1);
    t.is(signFingerprint(v.fingerprint, KEY1.name, KEY1.signing), v.sigTrustixTest1);
    t.true(verifyFingerprint(v.fingerprint, v.sigTrustixTest1, KEY1.name, KEY1.verifying));
    t.true(narinfoSignedBy(info, KEY1.name, KEY1.verifying));
  });
}

for (const v of VECTORS.vectors) {
  test(`${v.name}: trustix-test-2 reproduces sigTrustixTest2 byte for byte, and a re-signed narinfo verifies`, (t) => {
    const info = parseNarinfo(fixture(v.narinfoNone));
    const sig = signNarinfo(info, KEY2.name, KEY2.signing);
    t.is(sig, v.sigTrustixTest2);
    t.true(verifyFingerprint(v.fingerprint, sig, KEY2.name, KEY2.verifying));
    t.false(narinfoSignedBy(info, KEY2.name, KEY2.verifying));
    const resigned = parseNarinfo(formatNarinfo({ ...info, sigs: [...info.sigs, sig] }));
    t.true(narinfoSignedBy(resigned, KEY2.name, KEY2.verifying));
    t.true(narinfoSignedBy(resigned, KEY1.name, KEY1.verifying));
  });
}

const V = VECTORS.vectors.find((v) => v.name === 'tv-withref')!;

test('a signature does not verify under another key, another name, or another fingerprint', (t) => {
  t.false(verifyFingerprint(V.fingerprint, V.sigTrustixTest1, KEY1.name, KEY2.verifying));
  t.false(verifyFingerprint(V.fingerprint, V.sigTrustixTest1, KEY2.name, KEY1.verifying));
  t.false(
    verifyFingerprint(V.fingerprint.replace(';592;', ';593;'), V.sigTrustixTest1, KEY1.name, KEY1.verifying),
  );
  const other = VECTORS.vectors.find((v) => v.name !== V.name)!;
  t.false(verifyFingerprint(other.fingerprint, V.sigTrustixTest1, KEY1.name, KEY1.verifying));
});

test('a narinfo whose NarHash was changed is no longer signed by its key', (t) => {
  const info = parseNarinfo(fixture(V.narinfoXz));
  const tampered = { ...info, narHash: new Uint8Array(info.narHash).fill(7, 0, 1) };
  t.false(narinfoSignedBy(tampered, KEY1.name, KEY1.verifying));
  const dropped = { ...info, references: info.references!.slice(1) };
  t.false(narinfoSignedBy(dropped, KEY1.name, KEY1.verifying));
});

test('a flipped signature bit does not verify', (t) => {
  const { keyName, signature } = parseNarinfoSignature(V.sigTrustixTest1);
  const flipped = Uint8Array.from(signature);
  flipped[10]! ^= 1;
  const sig = `${keyName}:${Buffer.from(flipped).toString('base64')}`;
  t.false(verifyFingerprint(V.fingerprint, sig, KEY1.name, KEY1.verifying));
});

const SIG_REJECTS: [string, string][] = [
  ['no colon', 'trustix-test-1'],
  ['empty name', `:${V.sigTrustixTest1.split(':')[1]}`],
  ['a space in the name', `a b:${V.sigTrustixTest1.split(':')[1]}`],
  ['empty signature', 'trustix-test-1:'],
  ['a 32-byte signature', `k:${Buffer.alloc(32).toString('base64')}`],
  ['base64 without padding', V.sigTrustixTest1.replace(/=+$/, '')],
  ['URL-safe base64', `k:${Buffer.alloc(64, 0xfb).toString('base64url')}==`],
];

for (const [what, text] of SIG_REJECTS) {
  test(`Sig value rejects ${what} with MalformedError`, (t) => {
    t.throws(() => parseNarinfoSignature(text), { instanceOf: MalformedError });
  });
}
