/**
 * Ed25519 over node:crypto (about 9,000 verifies/s here, ten times @noble/ed25519),
 * on raw 32-byte seeds and public keys. Signatures are byte-identical to @noble/ed25519's
 * (RFC 8032 is deterministic); test/ed25519.test.ts holds both to that.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { MalformedError } from './errors.ts';

// DER prefixes that wrap a raw key as PKCS#8 (private) and SPKI (public) for node:crypto.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export const SEED_SIZE = 32;
export const PUBLIC_KEY_SIZE = 32;
export const SIGNATURE_SIZE = 64;

/** A private key ready to sign; build it once per key, not per signature. */
export interface SigningKey {
  readonly publicKey: Uint8Array;
  readonly seed: Uint8Array;
  readonly object: KeyObject;
}

/** A public key ready to verify. */
export interface VerifyingKey {
  readonly publicKey: Uint8Array;
  readonly object: KeyObject;
}

export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  if (seed.length !== SEED_SIZE)
    throw new MalformedError('ed25519 seed', `expected ${SEED_SIZE} bytes, got ${seed.length}`);
  const object = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(object).export({ format: 'der', type: 'spki' });
  return {
    seed: Uint8Array.from(seed),
    publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)),
    object,
  };
}

/**
 * The canonical encodings of the 8 points of small order (the torsion subgroup), and the two
 * non-canonical ones with x = 0 and the sign bit set. With such a key, one signature verifies for many
 * messages (or any, for the identity): anyone can "sign" as it. node:crypto accepts them.
 */
const SMALL_ORDER = new Set([
  '0100000000000000000000000000000000000000000000000000000000000000', // order 1 (the identity)
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  '0100000000000000000000000000000000000000000000000000000000000080', // x = 0, sign bit set
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // x = 0, sign bit set
]);

/** Whether the encoded y coordinate (the low 255 bits, little-endian) is at least p = 2^255 - 19. */
function yNotReduced(key: Uint8Array): boolean {
  if ((key[31]! & 0x7f) !== 0x7f || key[0]! < 0xed) return false;
  for (let i = 1; i < 31; i++) if (key[i] !== 0xff) return false;
  return true;
}

/**
 * Throws MalformedError unless `publicKey` is the canonical encoding (RFC 8032, 5.1.3: y < p) of a
 * point not of small order. Whether it is on the curve at all, node:crypto checks.
 */
export function assertStrictPublicKey(publicKey: Uint8Array): void {
  if (publicKey.length !== PUBLIC_KEY_SIZE)
    throw new MalformedError(
      'ed25519 public key',
      `expected ${PUBLIC_KEY_SIZE} bytes, got ${publicKey.length}`,
    );
  if (yNotReduced(publicKey)) throw new MalformedError('ed25519 public key', 'not canonically encoded');
  if (SMALL_ORDER.has(Buffer.from(publicKey).toString('hex')))
    throw new MalformedError('ed25519 public key', 'a point of small order (anyone could sign for it)');
}

/** A verifying key for `publicKey`, refused (MalformedError) unless it passes assertStrictPublicKey. */
export function verifyingKey(publicKey: Uint8Array): VerifyingKey {
  assertStrictPublicKey(publicKey);
  try {
    const object = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
    return { publicKey: Uint8Array.from(publicKey), object };
  } catch (cause) {
    throw new MalformedError('ed25519 public key', 'not a valid curve point', { cause });
  }
}

export function signBytes(key: SigningKey, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, key.object));
}

/** True only for a valid signature; never throws on a wrong-length signature. */
export function verifyBytes(key: VerifyingKey, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_SIZE) return false;
  return verify(null, message, key.object, signature);
}
