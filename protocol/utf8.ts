/**
 * Text formats read from outside (narinfos, entries) arrive as bytes or strings: both are capped
 * in UTF-8 bytes before anything else is done with them, then bytes are decoded strictly.
 */
import { MalformedError, TooLargeError } from './errors.ts';

// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a BOM stays in the text (and is refused there).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The text of `input`, at most `limit` UTF-8 bytes. Throws TooLargeError(`what`) over the limit
 * (checked before decoding), MalformedError(`what`) for invalid UTF-8.
 */
export function boundedText(input: Uint8Array | string, what: string, limit: number): string {
  // UTF-16 length never exceeds UTF-8 length: refuse huge strings before counting their bytes.
  if (input.length > limit) throw new TooLargeError(what, input.length, limit);
  if (typeof input === 'string') {
    const size = Buffer.byteLength(input, 'utf8');
    if (size > limit) throw new TooLargeError(what, size, limit);
    return input;
  }
  try {
    return utf8.decode(input);
  } catch (cause) {
    throw new MalformedError(what, 'not valid UTF-8', { cause });
  }
}
