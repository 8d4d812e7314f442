/**
 * Narinfo signatures: `Sig: NAME:base64(sig64)`, an Ed25519 signature by key NAME over the
 * narinfo's fingerprint (== our log entry, see entry.ts), exactly as Nix makes and checks them.
 *
 *   Sig: trustix-test-1:fx2TgkKi1qSCKK8RbubzJASjmJD6YtSoNIS/XDSC1k/sqjd7iq2yskdo/kDzFqH+ZpFs0PrPrDJrM6vRHOv0Dw==
 *
 * Keys arrive already parsed (key files are keys.ts's business).
 */
import { decodeBase64, encodeBase64 } from './base64.ts';
import { MAX_KEY_NAME_BYTES } from './constants.ts';
import { SIGNATURE_SIZE, type SigningKey, signBytes, type VerifyingKey, verifyBytes } from './ed25519.ts';
import { entryFromNarinfo, formatEntry, type NarinfoFingerprintFields } from './entry.ts';
import { MalformedError } from './errors.ts';

export interface NarinfoSignature {
  readonly keyName: string;
  readonly signature: Uint8Array;
}

const WHAT = 'narinfo signature';
const encoder = new TextEncoder();

/** Parses `NAME:base64(64 bytes)`; NAME is non-empty, without whitespace, at most MAX_KEY_NAME_BYTES. */
export function parseNarinfoSignature(text: string): NarinfoSignature {
  const colon = text.indexOf(':');
  if (colon < 0) throw new MalformedError(WHAT, 'expected NAME:base64');
  const keyName = text.slice(0, colon);
  checkSignatureKeyName(keyName);
  return { keyName, signature: decodeBase64(text.slice(colon + 1), WHAT, SIGNATURE_SIZE) };
}

function checkSignatureKeyName(keyName: string): void {
  if (keyName === '' || Buffer.byteLength(keyName) > MAX_KEY_NAME_BYTES || /[\s:]/.test(keyName))
    throw new MalformedError(WHAT, `bad key name ${JSON.stringify(keyName.slice(0, 40))}`);
}

export function formatNarinfoSignature(sig: NarinfoSignature): string {
  checkSignatureKeyName(sig.keyName);
  return `${sig.keyName}:${encodeBase64(sig.signature)}`;
}

/** The string Nix signs for this narinfo: `1;<path>;<sha256:nix32>;<size>;<refs>`. */
export function narinfoFingerprint(info: NarinfoFingerprintFields): string {
  return formatEntry(entryFromNarinfo(info));
}

/** Signs a fingerprint; returns the `Sig:` value `NAME:base64(sig64)`. */
export function signFingerprint(fingerprint: string, keyName: string, key: SigningKey): string {
  return formatNarinfoSignature({ keyName, signature: signBytes(key, encoder.encode(fingerprint)) });
}

/**
 * True when `sig` (a `Sig:` value) is by `keyName` and verifies over `fingerprint` with `key`.
 * A signature by another name is false; a malformed one throws MalformedError.
 */
export function verifyFingerprint(
  fingerprint: string,
  sig: string,
  keyName: string,
  key: VerifyingKey,
): boolean {
  const parsed = parseNarinfoSignature(sig);
  return parsed.keyName === keyName && verifyBytes(key, encoder.encode(fingerprint), parsed.signature);
}

/** Signs a narinfo's fingerprint; append the result to `sigs` to re-sign it. */
export function signNarinfo(info: NarinfoFingerprintFields, keyName: string, key: SigningKey): string {
  return signFingerprint(narinfoFingerprint(info), keyName, key);
}

/** True when any of the narinfo's `Sig:` lines is a valid signature by (`keyName`, `key`). */
export function narinfoSignedBy(
  info: NarinfoFingerprintFields & { readonly sigs: readonly string[] },
  keyName: string,
  key: VerifyingKey,
): boolean {
  const fingerprint = narinfoFingerprint(info);
  return info.sigs.some((sig) => verifyFingerprint(fingerprint, sig, keyName, key));
}
