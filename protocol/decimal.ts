/**
 * Canonical decimal sizes in text formats: `0` or `[1-9][0-9]*`, no sign, no leading zeros,
 * at most 2^53-1 so every size is an exact JavaScript number.
 */
import { MalformedError } from './errors.ts';

const DECIMAL_RE = /^(?:0|[1-9][0-9]{0,15})$/;

/** Parses a canonical decimal safe integer; throws MalformedError(`what`). */
export function parseDecimal(text: string, what: string): number {
  if (!DECIMAL_RE.test(text))
    throw new MalformedError(what, `${JSON.stringify(text.slice(0, 40))} is not a canonical decimal`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new MalformedError(what, `${text} is over 2^53-1`);
  return n;
}
