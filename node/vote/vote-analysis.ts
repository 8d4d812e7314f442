/**
 * The votes for one store path classified once per decision (node/vote/decider.ts): each log's weight in
 * integer millionths, whether it votes, abstains (forked, contradicting, overfull) or is silent, and the
 * tally of the values voted for, heaviest first. Apart from the chain because the built-in deciders
 * (threshold-decider.ts, trust-decider.ts) decide on the same analysis: the votes are classified, and
 * the weights checked and summed exactly, in one place.
 */
import { OutOfRangeError } from '../../protocol/errors.ts';
import type { Decider, DeciderOutcome, LogVote } from './decider-spec.ts';

export interface Mismatch {
  readonly log: string;
  readonly fingerprint: string;
}
export interface Abstention {
  readonly log: string;
  readonly reason: 'forked' | 'contradicting' | 'overfull';
  readonly fingerprints: readonly string[];
}

export const MICRO = 1_000_000;
const MAX_MICRO_WEIGHT = 1_000_000 * MICRO;

export interface Entry {
  readonly fingerprint: string;
  readonly logs: string[];
  micro: number;
}

/** The votes classified once per decision, shared by the chain's built-in deciders. */
export interface Analysis {
  readonly votes: readonly LogVote[];
  /** W: every configured log's weight, in millionths. */
  readonly total: number;
  /** Heaviest first. */
  readonly tally: readonly Entry[];
  readonly byFingerprint: ReadonlyMap<string, Entry>;
  /** Every non-abstaining voting log, in vote order. */
  readonly voters: readonly Mismatch[];
  readonly misses: readonly string[];
  readonly abstentions: readonly Abstention[];
}

export function contradicts(fingerprints: readonly string[]): boolean {
  const first = fingerprints[0];
  for (let i = 1; i < fingerprints.length; i++) if (fingerprints[i] !== first) return true;
  return false;
}

export function analyse(votes: readonly LogVote[]): Analysis {
  let total = 0;
  const tally: Entry[] = [];
  const byFingerprint = new Map<string, Entry>();
  const voters: Mismatch[] = [];
  const misses: string[] = [];
  const abstentions: Abstention[] = [];
  for (const vote of votes) {
    const micro = Math.round(vote.weight * MICRO);
    // Also refuses NaN: a weight outside the contract is a caller bug, not an undecidable vote.
    if (!(micro >= 1 && micro <= MAX_MICRO_WEIGHT))
      throw new OutOfRangeError(`log ${vote.log}: a weight must be in (0, 1000000], not ${vote.weight}`);
    total += micro;
    const fps = vote.fingerprints;
    const first = fps[0];
    if (vote.forked) abstentions.push({ log: vote.log, reason: 'forked', fingerprints: fps });
    else if (vote.overfull === true)
      abstentions.push({ log: vote.log, reason: 'overfull', fingerprints: [] });
    else if (first === undefined) misses.push(vote.log);
    else if (fps.length > 1 && contradicts(fps))
      abstentions.push({ log: vote.log, reason: 'contradicting', fingerprints: [...new Set(fps)] });
    else {
      voters.push({ log: vote.log, fingerprint: first });
      let entry = byFingerprint.get(first);
      if (entry === undefined) {
        entry = { fingerprint: first, logs: [], micro: 0 };
        byFingerprint.set(first, entry);
        tally.push(entry);
      }
      entry.logs.push(vote.log);
      entry.micro += micro;
    }
  }
  if (!Number.isSafeInteger(total))
    throw new OutOfRangeError('the logs’ total weight is too large to sum exactly');
  // Heaviest first, then most logs, then by fingerprint so the order never depends on the votes' order.
  if (tally.length > 1)
    tally.sort(
      (a, b) =>
        b.micro - a.micro ||
        b.logs.length - a.logs.length ||
        (a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0),
    );
  return { votes, total, tally, byFingerprint, voters, misses, abstentions };
}

/** The chain's fast path: built-in deciders decide on the shared analysis. */
export const ANALYSED = Symbol('decideAnalysed');
export interface AnalysedDecider extends Decider {
  [ANALYSED](analysis: Analysis): DeciderOutcome;
}
