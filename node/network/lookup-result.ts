/**
 * What a lookup finds (LookupResult, checked against a VerifiedHead) and what one peer answered (Answer):
 * the words the lookup client, its fan-out and its exchange with a peer share, apart so that none of them
 * imports another for them.
 */
import type { Hash } from '../../protocol/merkle.ts';

/** A verified tree of a light log: the size asked at, and the root answers are checked against. */
export interface VerifiedHead {
  readonly size: number;
  readonly root: Hash;
}

/**
 * What a lookup found: `entries` (verified, possibly none: the providers asked hold no entry for the
 * path below the size), `tooMany` (a provider says the log holds more than MAX_LOOKUP_ENTRIES: it cannot
 * be checked, the log abstains), or `unavailable` (no provider answered).
 */
export type LookupResult =
  | {
      readonly kind: 'entries';
      readonly entries: readonly { index: number; entry: string }[];
      readonly from: readonly string[];
    }
  | { readonly kind: 'tooMany'; readonly from: readonly string[] }
  | { readonly kind: 'unavailable'; readonly reason: string };

export type Answer =
  | { kind: 'entries'; peer: string; entries: { index: number; entry: string }[] }
  | { kind: 'tooMany'; peer: string }
  /** `again`: busy or timed out, worth asking once more. */
  | { kind: 'failed'; peer: string; again?: boolean };
