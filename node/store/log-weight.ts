/**
 * A followed log's vote weight: a positive number, at most MAX_WEIGHT, given on the command line as a plain
 * decimal. Its own module, light enough for the CLI's client commands (docs/ARCHITECTURE.md, the doors).
 */
import { MalformedError, OutOfRangeError } from '../../protocol/errors.ts';

/** Largest weight accepted: far above any sensible vote, small enough that sums stay exact. */
export const MAX_WEIGHT = 1_000_000;

/** A weight from the command line: a plain positive decimal ("1", "0.5", "2.25"). */
export function parseWeight(text: string): number {
  if (!/^(0|[1-9][0-9]{0,6})(\.[0-9]{1,6})?$/.test(text))
    throw new MalformedError(
      'weight',
      `${JSON.stringify(text.slice(0, 32))} is not a positive decimal number`,
    );
  return checkWeight(Number(text));
}

/** `weight`, when it is a number in (0, MAX_WEIGHT]; OutOfRangeError otherwise. */
export function checkWeight(weight: number): number {
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0 || weight > MAX_WEIGHT)
    throw new OutOfRangeError(`a weight must be a number in (0, ${MAX_WEIGHT}], not ${weight}`);
  return weight;
}
