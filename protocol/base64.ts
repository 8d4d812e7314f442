/**
 * Standard base64 (RFC 4648 section 4, with padding), decoded strictly: every format we read
 * (signed notes, vkeys, Nix keys, checkpoint roots) must have exactly one spelling, so we refuse
 * what node's lenient Buffer decoder would accept (URL-safe letters, missing padding, whitespace,
 * non-zero trailing bits).
 */
import { MalformedError } from './errors.ts';

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Length of the standard base64 encoding of `bytes` bytes. */
export function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/** Standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes canonical standard base64. With `size`, the decoded length must be exactly `size`
 * (checked on the text length before decoding). Throws MalformedError(`what`) otherwise.
 */
export function decodeBase64(text: string, what: string, size?: number): Uint8Array {
  if (size !== undefined && text.length !== base64Length(size))
    throw new MalformedError(what, `expected base64 of ${size} bytes`);
  if (!STD_BASE64.test(text)) throw new MalformedError(what, 'not standard padded base64');
  const bytes = Buffer.from(text, 'base64');
  // Non-zero bits in the last symbol decode to the same bytes: only one spelling is canonical.
  if (bytes.toString('base64') !== text) throw new MalformedError(what, 'non-canonical base64');
  if (size !== undefined && bytes.length !== size)
    throw new MalformedError(what, `expected ${size} bytes, got ${bytes.length}`);
  // A copy: small Buffers share node's allocation pool, and callers keep these bytes.
  return new Uint8Array(bytes);
}
