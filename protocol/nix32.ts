/**
 * Nix's base-32 ("nix32"): the encoding of store path hashes and of `sha256:` hashes in narinfos.
 *
 * Alphabet `0123456789abcdfghijklmnpqrsvwxyz` (no e, o, t, u). Unlike RFC 4648 it reads the bytes
 * as one little-endian number and writes its 5-bit digits most significant first: output char k
 * (counting from the END, k = 0 is the last char) holds bits 5k..5k+4 of the byte string.
 * 32 bytes (sha256) <-> 52 chars; 20 bytes (store path hash) <-> 32 chars.
 *
 *   sha256("") = 0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73
 */
import { MalformedError } from './errors.ts';

export const NIX32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

// char code -> digit value, -1 for characters outside the alphabet.
const DIGITS = new Int8Array(128).fill(-1);
for (let i = 0; i < NIX32_ALPHABET.length; i++) DIGITS[NIX32_ALPHABET.charCodeAt(i)] = i;

/** Length of the nix32 encoding of `byteLength` bytes. */
export function nix32Length(byteLength: number): number {
  return Math.ceil((byteLength * 8) / 5);
}

/** True when bytes[start..end) are all nix32 chars (ASCII); for checks done in place on bytes. */
export function isNix32Bytes(bytes: Uint8Array, start: number, end: number): boolean {
  if (end > bytes.length) return false;
  for (let k = start; k < end; k++) {
    const c = bytes[k]!;
    if (c >= 128 || DIGITS[c]! < 0) return false;
  }
  return true;
}

/** True when every char of `text` is in the nix32 alphabet (says nothing about length). */
export function isNix32Text(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || DIGITS[c]! < 0) return false;
  }
  return true;
}

/** Encodes bytes as nix32, exactly as Nix's `printHash32`. */
export function encodeNix32(bytes: Uint8Array): string {
  const len = nix32Length(bytes.length);
  let out = '';
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const hi = i + 1 < bytes.length ? bytes[i + 1]! << (8 - j) : 0;
    out += NIX32_ALPHABET[((bytes[i]! >> j) | hi) & 0x1f];
  }
  return out;
}

/**
 * Decodes nix32 text into exactly `byteLength` bytes. Strict: the text must have the exact
 * length, use only the alphabet, and leave the unused high bits of the first char zero (otherwise
 * two spellings would decode to the same bytes). Throws MalformedError(`what`).
 */
export function decodeNix32(text: string, byteLength: number, what = 'nix32'): Uint8Array {
  const len = nix32Length(byteLength);
  if (text.length !== len)
    throw new MalformedError(what, `expected ${len} nix32 chars for ${byteLength} bytes, got ${text.length}`);
  const out = new Uint8Array(byteLength);
  for (let n = 0; n < len; n++) {
    const c = text.charCodeAt(len - 1 - n);
    const digit = c < 128 ? DIGITS[c]! : -1;
    if (digit < 0) throw new MalformedError(what, `invalid nix32 char ${JSON.stringify(text[len - 1 - n])}`);
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i]! |= (digit << j) & 0xff;
    const carry = digit >> (8 - j);
    if (i + 1 < byteLength) out[i + 1]! |= carry;
    else if (carry !== 0) throw new MalformedError(what, 'non-canonical nix32 (unused high bits set)');
  }
  return out;
}
