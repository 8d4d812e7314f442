import { randomBytes } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import test from 'ava';
import fc from 'fast-check';
import { signBytes, signingKeyFromSeed, verifyBytes, verifyingKey } from '../protocol/ed25519.ts';
import { MalformedError } from '../protocol/errors.ts';

ed.hashes.sha512 = sha512;

test('RFC 8032 test 1 (empty message): public key and signature', (t) => {
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  const key = signingKeyFromSeed(seed);
  t.is(
    Buffer.from(key.publicKey).toString('hex'),
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  );
  t.is(
    Buffer.from(signBytes(key, new Uint8Array(0))).toString('hex'),
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  );
});

test('node:crypto signatures are byte-identical to @noble/ed25519 for random seeds and messages', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 300 }),
      (seed, message) => {
        const key = signingKeyFromSeed(seed);
        const ours = signBytes(key, message);
        const noble = ed.sign(message, seed);
        return (
          Buffer.from(key.publicKey).equals(ed.getPublicKey(seed)) &&
          Buffer.from(ours).equals(noble) &&
          ed.verify(ours, message, key.publicKey) &&
          verifyBytes(verifyingKey(key.publicKey), message, noble)
        );
      },
    ),
    { numRuns: 50 },
  );
  t.pass();
});

test('verification agrees with @noble/ed25519 on corrupted signatures and messages', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 1, maxLength: 100 }),
      fc.nat(63),
      fc.boolean(),
      (seed, message, index, corruptSignature) => {
        const key = signingKeyFromSeed(seed);
        const sig = Uint8Array.from(signBytes(key, message));
        const msg = Uint8Array.from(message);
        if (corruptSignature) sig[index] = sig[index]! ^ 0x40;
        else msg[index % msg.length] = msg[index % msg.length]! ^ 1;
        const ours = verifyBytes(verifyingKey(key.publicKey), msg, sig);
        return ours === false && ours === ed.verify(sig, msg, key.publicKey);
      },
    ),
    { numRuns: 50 },
  );
  t.pass();
});

test('verifyBytes returns false for wrong-length signatures instead of throwing', (t) => {
  const key = signingKeyFromSeed(randomBytes(32));
  const vk = verifyingKey(key.publicKey);
  const sig = signBytes(key, Uint8Array.of(1));
  t.true(verifyBytes(vk, Uint8Array.of(1), sig));
  t.false(verifyBytes(vk, Uint8Array.of(1), sig.subarray(0, 63)));
  t.false(verifyBytes(vk, Uint8Array.of(1), new Uint8Array(65)));
  t.false(verifyBytes(vk, Uint8Array.of(1), new Uint8Array(0)));
});

for (const length of [0, 31, 33, 64]) {
  test(`a ${length}-byte seed is a MalformedError`, (t) => {
    t.throws(() => signingKeyFromSeed(new Uint8Array(length)), { instanceOf: MalformedError });
  });
  test(`a ${length}-byte public key is a MalformedError`, (t) => {
    t.throws(() => verifyingKey(new Uint8Array(length)), { instanceOf: MalformedError });
  });
}
