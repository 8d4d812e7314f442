/**
 * SHA-256 hashes as Nix writes them in narinfos and fingerprints.
 *
 *   canonical:  sha256:0k7nyapk1y0cjxh60wx664mmpgri8lrrxmv1jgfplp4f68ylw8pp   (nix32, 52 chars)
 *   accepted:   sha256:f7224e3d328e5c7add9361d79e334531bf5b2b31a6736060970cf830aff2f64c   (hex, 64)
 *               sha256:9yJOPTKOXHrdk2HXnjNFMb9bKzGmc2Bglwz4MK/y9kw=   (base64, 44)
 *               sha256-9yJOPTKOXHrdk2HXnjNFMb9bKzGmc2Bglwz4MK/y9kw=   (SRI)
 *
 * Nix accepts all four spellings in a narinfo (the encoding after `sha256:` is told apart by its
 * length) and always signs the nix32 one, so we accept them too and normalize to nix32. Hex must be
 * lowercase and base64 canonical, so each spelling has one form. Only sha256: Nix refuses to
 * fingerprint any other NarHash algorithm.
 */
import { decodeBase64 } from './base64.ts';
import { HASH_SIZE } from './constants.ts';
import { MalformedError } from './errors.ts';
import { decodeNix32, encodeNix32, nix32Length } from './nix32.ts';

const PREFIX = 'sha256:';
const SRI_PREFIX = 'sha256-';
const HEX_RE = /^[0-9a-f]{64}$/;

/** `sha256:<nix32>`, the canonical spelling. */
export function formatSha256(hash: Uint8Array): string {
  if (hash.length !== HASH_SIZE) throw new MalformedError('sha256 hash', `expected ${HASH_SIZE} bytes`);
  return PREFIX + encodeNix32(hash);
}

/** Parses only the canonical `sha256:<52 nix32 chars>` (log entries allow nothing else). */
export function parseCanonicalSha256(text: string, what: string): Uint8Array {
  if (!text.startsWith(PREFIX)) throw new MalformedError(what, 'expected sha256:<nix32>');
  return decodeNix32(text.slice(PREFIX.length), HASH_SIZE, what);
}

/** Parses any spelling Nix accepts (see the module comment) into the 32 hash bytes. */
export function parseSha256(text: string, what: string): Uint8Array {
  if (text.startsWith(SRI_PREFIX)) return decodeBase64(text.slice(SRI_PREFIX.length), what, HASH_SIZE);
  if (!text.startsWith(PREFIX)) throw new MalformedError(what, 'expected sha256:<hash> or sha256-<base64>');
  const body = text.slice(PREFIX.length);
  if (body.length === nix32Length(HASH_SIZE)) return decodeNix32(body, HASH_SIZE, what);
  if (body.length === 2 * HASH_SIZE) {
    if (!HEX_RE.test(body)) throw new MalformedError(what, 'expected lowercase hex');
    return new Uint8Array(Buffer.from(body, 'hex'));
  }
  return decodeBase64(body, what, HASH_SIZE);
}
