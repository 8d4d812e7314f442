/**
 * Nix key files and log identity (docs/PROTOCOL.md "Keys and log identity").
 *
 * Key files, as `nix key generate-secret` and `nix key convert-secret-to-public` write them
 * (no trailing newline; exactly one is tolerated when reading):
 *
 *     secret:  NAME:base64(seed32 || pub32)
 *              trustix-test-1:ssJFN7gBkVbZU6YuzUlSnKTlGf3NDY/yBc36yo5qp8dp8KS9RlQQ3xaBJCS30iCw+lK8a/iLwfjmIaNRtearyg==
 *     public:  NAME:base64(pub32)
 *              trustix-test-1:afCkvUZUEN8WgSQkt9IgsPpSvGv4i8H45iGjUbXmq8o=
 *
 * A log is named by its key's vkey (see vkey.ts) and identified by its log ID, the lowercase hex
 * SHA-256 of the vkey string:
 *
 *     vkey:    trustix-test-1+bd4343b8+AWnwpL1GVBDfFoEkJLfSILD6Urxr+IvB+OYho1G15qvK
 *     log ID:  6186edc27d4805184d52c5dbe8209341ef6353f02feac58f9cebf739e9a98248
 *
 * Key names must also be valid note key names (no spaces, '+' or controls), so every Nix key can
 * name a log.
 */
import { createHash, randomBytes } from 'node:crypto';
import { base64Length, decodeBase64, encodeBase64 } from './base64.ts';
import { MAX_KEY_NAME_BYTES } from './constants.ts';
import {
  assertStrictPublicKey,
  PUBLIC_KEY_SIZE,
  SEED_SIZE,
  type SigningKey,
  signingKeyFromSeed,
} from './ed25519.ts';
import { MalformedError, TooLargeError } from './errors.ts';
import {
  checkKeyName,
  type NoteSigner,
  type NoteVerifier,
  noteSigner,
  noteVerifier,
  parseVkey,
} from './vkey.ts';

/** A Nix public key `NAME:base64(pub32)`. */
export interface NixPublicKey {
  readonly name: string;
  readonly publicKey: Uint8Array;
}

/** A Nix secret key `NAME:base64(seed32 || pub32)`, with its public half derived from the seed. */
export interface NixSecretKey extends NixPublicKey {
  readonly seed: Uint8Array;
  readonly signingKey: SigningKey;
}

/** The identity of a log: its key, vkey, log ID, and a verifier for its checkpoints. */
export interface LogKey {
  readonly name: string;
  readonly publicKey: Uint8Array;
  readonly vkey: string;
  /** Lowercase hex SHA-256 of `vkey`. */
  readonly logId: string;
  readonly verifier: NoteVerifier;
}

const SECRET_BYTES = SEED_SIZE + PUBLIC_KEY_SIZE;
// NAME ':' base64 '\n' at most.
const MAX_SECRET_FILE_BYTES = MAX_KEY_NAME_BYTES + 1 + base64Length(SECRET_BYTES) + 1;
const MAX_PUBLIC_FILE_BYTES = MAX_KEY_NAME_BYTES + 1 + base64Length(PUBLIC_KEY_SIZE) + 1;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Size-caps, decodes and splits a key file into NAME and the base64 field. */
function splitKeyFile(file: string | Uint8Array, what: string, limit: number): [string, string] {
  // For strings, UTF-16 length never exceeds UTF-8 length: a cheap first test.
  if (file.length > limit) throw new TooLargeError(what, file.length, limit);
  let text: string;
  try {
    text = typeof file === 'string' ? file : utf8.decode(file);
  } catch (cause) {
    throw new MalformedError(what, 'not valid UTF-8', { cause });
  }
  const size = Buffer.byteLength(text, 'utf8');
  if (size > limit) throw new TooLargeError(what, size, limit);
  if (text.endsWith('\n')) text = text.slice(0, -1);
  const colon = text.indexOf(':');
  if (colon < 0) throw new MalformedError(what, 'expected NAME:BASE64');
  const name = text.slice(0, colon);
  checkKeyName(name, what);
  return [name, text.slice(colon + 1)];
}

/**
 * Parses a Nix secret key file. The public key is derived from the seed; a file whose stored
 * public half differs is refused (MalformedError).
 */
export function parseNixSecretKey(file: string | Uint8Array): NixSecretKey {
  const [name, field] = splitKeyFile(file, 'nix secret key', MAX_SECRET_FILE_BYTES);
  const bytes = decodeBase64(field, 'nix secret key', SECRET_BYTES);
  const key = nixSecretKeyFromSeed(name, bytes.subarray(0, SEED_SIZE));
  if (!Buffer.from(key.publicKey).equals(bytes.subarray(SEED_SIZE)))
    throw new MalformedError('nix secret key', 'stored public key does not match the seed');
  return key;
}

/** Parses a Nix public key file `NAME:base64(pub32)`. */
export function parseNixPublicKey(file: string | Uint8Array): NixPublicKey {
  const [name, field] = splitKeyFile(file, 'nix public key', MAX_PUBLIC_FILE_BYTES);
  const publicKey = decodeBase64(field, 'nix public key', PUBLIC_KEY_SIZE);
  assertStrictPublicKey(publicKey);
  return { name, publicKey };
}

/** The secret key file text (no trailing newline, as Nix writes it). */
export function formatNixSecretKey(key: NixSecretKey): string {
  checkKeyName(key.name, 'nix secret key');
  return `${key.name}:${encodeBase64(Buffer.concat([key.seed, key.signingKey.publicKey]))}`;
}

/** The public key file text (no trailing newline), also the form of `trusted-public-keys`. */
export function formatNixPublicKey(key: NixPublicKey): string {
  checkKeyName(key.name, 'nix public key');
  if (key.publicKey.length !== PUBLIC_KEY_SIZE)
    throw new MalformedError('nix public key', `public key must be ${PUBLIC_KEY_SIZE} bytes`);
  return `${key.name}:${encodeBase64(key.publicKey)}`;
}

/** The Nix secret key named `name` with the 32-byte Ed25519 seed `seed`. */
export function nixSecretKeyFromSeed(name: string, seed: Uint8Array): NixSecretKey {
  checkKeyName(name, 'nix secret key');
  const signingKey = signingKeyFromSeed(seed);
  return { name, seed: signingKey.seed, publicKey: signingKey.publicKey, signingKey };
}

/** A fresh random Nix secret key (what `nix key generate-secret --key-name NAME` makes). */
export function generateNixSecretKey(name: string): NixSecretKey {
  return nixSecretKeyFromSeed(name, randomBytes(SEED_SIZE));
}

/** The log ID of a vkey: lowercase hex SHA-256 of its UTF-8 bytes. */
export function logIdOf(vkey: string): string {
  return createHash('sha256').update(vkey, 'utf8').digest('hex');
}

/** The log identity of an Ed25519 public key named `name`. */
export function logKeyOf(key: NixPublicKey): LogKey {
  return logKeyFromVerifier(noteVerifier(key.name, key.publicKey));
}

function logKeyFromVerifier(verifier: NoteVerifier): LogKey {
  const { name, publicKey, vkey } = verifier;
  return { name, publicKey, vkey, logId: logIdOf(vkey), verifier };
}

/**
 * Parses how a user names a log: a vkey `NAME+HASH+KEY` or a Nix public key `NAME:base64(pub32)`
 * (a Nix key name cannot contain ':', so a ':' means the Nix form). No surrounding whitespace.
 */
export function parseLogKey(text: string): LogKey {
  if (text.includes('\n')) throw new MalformedError('log key', 'must be a single line');
  if (text.includes(':')) return logKeyOf(parseNixPublicKey(text));
  return logKeyFromVerifier(parseVkey(text));
}

/** The note signer (checkpoint signer) of a log's Nix secret key. */
export function logSigner(key: NixSecretKey): NoteSigner {
  return noteSigner(key.name, key.seed);
}
