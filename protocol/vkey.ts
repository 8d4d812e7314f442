/**
 * Signed-note keys (C2SP signed-note), Ed25519 only (signature type 0x01).
 *
 * Verifier key (vkey), the public name of a key:
 *
 *     NAME+KEYHASH8HEX+base64(0x01 || pub32)
 *     PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW
 *
 * Signer key (skey), as Go's golang.org/x/mod/sumdb/note writes it:
 *
 *     PRIVATE+KEY+NAME+KEYHASH8HEX+base64(0x01 || seed32)
 *
 * Key hash = the first 4 bytes (big-endian uint32) of SHA-256(NAME || 0x0A || 0x01 || pub32).
 * Base64 key material may itself contain '+', so a vkey splits on its first two '+' only.
 * Parsing is canonical (lowercase hex, canonical base64): a log ID is the hash of the vkey
 * string, so one key must have exactly one spelling.
 */
import { createHash } from 'node:crypto';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { MAX_KEY_NAME_BYTES } from './constants.ts';
import {
  PUBLIC_KEY_SIZE,
  SEED_SIZE,
  type SigningKey,
  signingKeyFromSeed,
  type VerifyingKey,
  verifyingKey,
} from './ed25519.ts';
import { MalformedError } from './errors.ts';

/** Signature type identifier byte of Ed25519 in signed notes. */
export const ED25519_SIGNATURE_TYPE = 0x01;

/** base64 of 0x01 || 32 key bytes: 33 bytes, 44 characters, no padding. */
const KEY_BASE64_LENGTH = 44;
/** Longest vkey: NAME + '+' + 8 hex + '+' + key. */
const MAX_VKEY_BYTES = MAX_KEY_NAME_BYTES + 1 + 8 + 1 + KEY_BASE64_LENGTH;
const MAX_SKEY_BYTES = 'PRIVATE+KEY+'.length + MAX_VKEY_BYTES;
const KEY_HASH_HEX = /^[0-9a-f]{8}$/;
// Unicode spaces (Go's unicode.IsSpace is the White_Space property), '+', control characters,
// and lone surrogates (which UTF-8 cannot encode).
const BAD_NAME_CHAR = /[\p{White_Space}+\p{Cc}\p{Cs}]/u;

/** A known public key: what openNote checks signatures against. Build once, reuse (caches the KeyObject). */
export interface NoteVerifier {
  readonly name: string;
  readonly keyHash: number;
  readonly publicKey: Uint8Array;
  /** The canonical vkey string. */
  readonly vkey: string;
  readonly key: VerifyingKey;
}

/** A private key that signs notes under `name`. */
export interface NoteSigner {
  readonly name: string;
  readonly keyHash: number;
  readonly publicKey: Uint8Array;
  readonly key: SigningKey;
}

/** Whether `name` may name a note key: non-empty, at most MAX_KEY_NAME_BYTES, no spaces, '+' or controls. */
export function isValidKeyName(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= MAX_KEY_NAME_BYTES &&
    !BAD_NAME_CHAR.test(name) &&
    Buffer.byteLength(name, 'utf8') <= MAX_KEY_NAME_BYTES
  );
}

/** Throws MalformedError(`what`) unless `name` is a valid key name. */
export function checkKeyName(name: string, what: string): void {
  if (!isValidKeyName(name))
    throw new MalformedError(what, `invalid key name ${JSON.stringify(name.slice(0, MAX_KEY_NAME_BYTES))}`);
}

/** The 32-bit key hash (key ID) of an Ed25519 key named `name`. */
export function keyHash(name: string, publicKey: Uint8Array): number {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Uint8Array.of(0x0a, ED25519_SIGNATURE_TYPE))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);
}

/** Key hash as the 8 lowercase hex digits of a vkey. */
export function keyHashHex(hash: number): string {
  return hash.toString(16).padStart(8, '0');
}

/** The vkey string of an Ed25519 public key. */
export function formatVkey(name: string, publicKey: Uint8Array): string {
  checkKeyName(name, 'vkey');
  if (publicKey.length !== PUBLIC_KEY_SIZE)
    throw new MalformedError('vkey', `public key must be ${PUBLIC_KEY_SIZE} bytes`);
  const material = encodeBase64(Uint8Array.of(ED25519_SIGNATURE_TYPE, ...publicKey));
  return `${name}+${keyHashHex(keyHash(name, publicKey))}+${material}`;
}

/** A verifier for the Ed25519 public key `publicKey` named `name`. */
export function noteVerifier(name: string, publicKey: Uint8Array): NoteVerifier {
  const vkey = formatVkey(name, publicKey);
  const key = verifyingKey(publicKey);
  return { name, keyHash: keyHash(name, publicKey), publicKey: key.publicKey, vkey, key };
}

/** A signer for the Ed25519 seed `seed` named `name`. */
export function noteSigner(name: string, seed: Uint8Array): NoteSigner {
  checkKeyName(name, 'signer key');
  const key = signingKeyFromSeed(seed);
  return { name, keyHash: keyHash(name, key.publicKey), publicKey: key.publicKey, key };
}

/** Splits `NAME+HASH+KEY` on the first two '+' and checks each part's shape. */
function splitKey(text: string, what: string): { name: string; hash: number; material: Uint8Array } {
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) throw new MalformedError(what, 'expected NAME+KEYHASH+KEY');
  const name = text.slice(0, first);
  const hashHex = text.slice(first + 1, second);
  checkKeyName(name, what);
  if (!KEY_HASH_HEX.test(hashHex)) throw new MalformedError(what, 'key hash must be 8 lowercase hex digits');
  const material = decodeBase64(text.slice(second + 1), what);
  if (material.length === 0 || material[0] !== ED25519_SIGNATURE_TYPE)
    throw new MalformedError(what, 'unsupported signature type (only Ed25519, 0x01)');
  if (material.length !== 1 + PUBLIC_KEY_SIZE)
    throw new MalformedError(what, `Ed25519 key must be ${PUBLIC_KEY_SIZE} bytes`);
  return { name, hash: Number.parseInt(hashHex, 16), material: material.subarray(1) };
}

function checkLength(text: string, limit: number, what: string): void {
  // UTF-16 length never exceeds UTF-8 length, so the first test is a safe shortcut.
  if (text.length > limit || Buffer.byteLength(text, 'utf8') > limit)
    throw new MalformedError(what, `longer than ${limit} bytes`);
}

/** Parses a vkey strictly: canonical spelling, Ed25519, and a key hash that matches the key. */
export function parseVkey(vkey: string): NoteVerifier {
  checkLength(vkey, MAX_VKEY_BYTES, 'vkey');
  const { name, hash, material } = splitKey(vkey, 'vkey');
  if (hash !== keyHash(name, material)) throw new MalformedError('vkey', 'key hash does not match the key');
  return noteVerifier(name, material);
}

/** Parses a signer key `PRIVATE+KEY+NAME+HASH+base64(0x01 || seed32)`; the hash must match the derived public key. */
export function parseSignerKey(skey: string): NoteSigner {
  checkLength(skey, MAX_SKEY_BYTES, 'signer key');
  if (!skey.startsWith('PRIVATE+KEY+'))
    throw new MalformedError('signer key', 'expected PRIVATE+KEY+ prefix');
  const { name, hash, material } = splitKey(skey.slice('PRIVATE+KEY+'.length), 'signer key');
  const signer = noteSigner(name, material.subarray(0, SEED_SIZE));
  if (hash !== signer.keyHash) throw new MalformedError('signer key', 'key hash does not match the key');
  return signer;
}

/** The signer key string of `signer` (secret: handle like a private key file). */
export function formatSignerKey(signer: NoteSigner): string {
  const material = encodeBase64(Uint8Array.of(ED25519_SIGNATURE_TYPE, ...signer.key.seed));
  return `PRIVATE+KEY+${signer.name}+${keyHashHex(signer.keyHash)}+${material}`;
}
