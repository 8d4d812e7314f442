/**
 * The vote (docs/CLI.md, the deciders): which fingerprint to believe for a store path, given what each
 * followed log says about it. Pure logic: the caller gathers one LogVote per followed log (silent ones included).
 *
 * A log votes for its fingerprint. It abstains when it is proven forked, when it holds two or more
 * distinct fingerprints for the path ("contradicting"), or more entries for it than the node takes in
 * ("overfull", node/store/layout.ts); abstaining logs never vote for anything.
 * Deciders are chained in order; the first that decides wins:
 * - `threshold` (count M, fraction F): a value qualifies when at least M non-abstaining logs vote for it
 *   and their weight w satisfies w >= F * W, where W is the weight of ALL configured logs (silent and
 *   abstaining ones count against, never in favour). Computed exactly: weights are scaled to integer
 *   millionths and compared as integers. Exactly one qualifying value decides; two or more are a tie,
 *   and ties decide nothing.
 * - `majority` (count M, default 2): the same with fraction 1/2, strictly: w > W / 2. The default vote.
 * - `trust NAME`: what the named log says (nothing when it is not followed, silent, forked or contradicting).
 * - `script PATH`: a user module's `decide(votes)`, run in a QuickJS sandbox (node/vote/script-decider.ts;
 *   the sandbox itself: script-sandbox.ts).
 * The shorthand that names deciders in config files and on the command line: node/vote/decider-spec.ts.
 */
import { OutOfRangeError } from '../../protocol/errors.ts';
import {
  checkDeciderSpec,
  type Decider,
  type DeciderOutcome,
  type DeciderSpec,
  type Fraction,
  formatDeciderSpec,
  type LogVote,
} from './decider-spec.ts';

import { ScriptDecider } from './script-decider.ts';

// The vote's whole surface in one import: specs are written where deciders are configured.
export {
  checkDeciderSpec,
  type Decider,
  type DeciderOutcome,
  type DeciderSpec,
  type Fraction,
  formatDeciderSpec,
  type LogVote,
  parseDeciderSpec,
  parseFraction,
  unsatisfiableVote,
} from './decider-spec.ts';

export interface Mismatch {
  readonly log: string;
  readonly fingerprint: string;
}
export interface Abstention {
  readonly log: string;
  readonly reason: 'forked' | 'contradicting' | 'overfull';
  readonly fingerprints: readonly string[];
}
/** One value voted for, with its voters (non-abstaining logs only), heaviest first. */
export interface Tally {
  readonly fingerprint: string;
  readonly logs: readonly string[];
  readonly weight: number;
}

export interface Decision {
  /** The decided fingerprint, or undefined when no decider in the chain decided. */
  readonly fingerprint: string | undefined;
  /** formatDeciderSpec of the decider that decided (undefined when none did). */
  readonly decider: string | undefined;
  /** Logs voting for the decided value (empty when undecided). */
  readonly agreeing: readonly string[];
  /** Non-abstaining logs voting for another value (when undecided: every non-abstaining voting log). */
  readonly mismatches: readonly Mismatch[];
  /** Logs with no entry for the path (a forked log is an abstention, never a miss). */
  readonly misses: readonly string[];
  /** Forked logs and logs holding two or more different fingerprints for the path. */
  readonly abstentions: readonly Abstention[];
  readonly tally: readonly Tally[];
  /** For each decider of the chain that was tried and did not decide, in order: `${formatDeciderSpec}: ${why}`. */
  readonly reasons: readonly string[];
}

const MICRO = 1_000_000;
const MAX_MICRO_WEIGHT = 1_000_000 * MICRO;

interface Entry {
  readonly fingerprint: string;
  readonly logs: string[];
  micro: number;
}

/** The votes classified once per decision, shared by the chain's built-in deciders. */
interface Analysis {
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

function contradicts(fingerprints: readonly string[]): boolean {
  const first = fingerprints[0];
  for (let i = 1; i < fingerprints.length; i++) if (fingerprints[i] !== first) return true;
  return false;
}

function analyse(votes: readonly LogVote[]): Analysis {
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
const ANALYSED = Symbol('decideAnalysed');
interface AnalysedDecider extends Decider {
  [ANALYSED](analysis: Analysis): DeciderOutcome;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const weightText = (micro: number): string => String(micro / MICRO);

class ThresholdDecider implements AnalysedDecider {
  readonly spec: DeciderSpec;
  readonly #count: number;
  readonly #num: number;
  readonly #den: number;
  readonly #bigNum: bigint;
  readonly #bigDen: bigint;
  readonly #needs: string;

  readonly #strict: boolean;

  constructor(count: number, fraction: Fraction, strict = false) {
    this.spec = checkDeciderSpec({
      kind: 'threshold',
      count,
      fraction: { ...fraction },
      ...(strict ? { strict } : {}),
    });
    this.#strict = strict;
    this.#count = count;
    this.#num = fraction.numerator;
    this.#den = fraction.denominator;
    this.#bigNum = BigInt(fraction.numerator);
    this.#bigDen = BigInt(fraction.denominator);
    this.#needs =
      this.#num === 0
        ? `needs ${plural(count, 'log')}`
        : `needs ${plural(count, 'log')} and ${strict ? 'more than ' : ''}${this.#num}/${this.#den} of the weight`;
  }

  /** w/W >= num/den (> when strict), exactly: products of integers are exact as doubles up to 2^53, else BigInt. */
  #heavyEnough(w: number, total: number): boolean {
    const left = w * this.#den;
    const right = this.#num * total;
    if (left <= Number.MAX_SAFE_INTEGER && right <= Number.MAX_SAFE_INTEGER)
      return this.#strict ? left > right : left >= right;
    const l = BigInt(w) * this.#bigDen;
    const r = this.#bigNum * BigInt(total);
    return this.#strict ? l > r : l >= r;
  }

  decide(votes: readonly LogVote[]): DeciderOutcome {
    return this[ANALYSED](analyse(votes));
  }

  [ANALYSED](a: Analysis): DeciderOutcome {
    const n = a.votes.length;
    if (n === 0) return { reason: 'no logs configured' };
    let winner: Entry | undefined;
    let qualifying = 0;
    for (const entry of a.tally) {
      if (entry.logs.length >= this.#count && this.#heavyEnough(entry.micro, a.total)) {
        qualifying++;
        winner ??= entry;
      }
    }
    if (qualifying === 1 && winner !== undefined) return { fingerprint: winner.fingerprint };
    if (qualifying > 1) return { reason: `tie: ${qualifying} values qualify; ${this.#needs}` };
    const best = a.tally[0];
    if (best === undefined)
      return {
        reason: `no log voted (${n} configured: ${a.misses.length} silent, ${a.abstentions.length} abstaining); ${this.#needs}`,
      };
    return {
      reason: `${best.logs.length} of ${plural(n, 'log')} (weight ${weightText(best.micro)} of ${weightText(a.total)}) agree; ${this.#needs}`,
    };
  }
}

class TrustDecider implements AnalysedDecider {
  readonly spec: DeciderSpec;
  readonly #log: string;

  constructor(log: string) {
    this.spec = checkDeciderSpec({ kind: 'trust', log });
    this.#log = log;
  }

  decide(votes: readonly LogVote[]): DeciderOutcome {
    const name = this.#log;
    const vote = votes.find((v) => v.log === name);
    if (vote === undefined) return { reason: `log ${name} is not followed` };
    if (vote.forked) return { reason: `log ${name} is forked (its key signed two histories)` };
    if (vote.overfull === true) return { reason: `log ${name} holds too many entries for the path` };
    const first = vote.fingerprints[0];
    if (first === undefined) return { reason: `log ${name} has no entry for the path` };
    if (contradicts(vote.fingerprints))
      return {
        reason: `log ${name} holds ${new Set(vote.fingerprints).size} different fingerprints for the path`,
      };
    return { fingerprint: first };
  }

  [ANALYSED](a: Analysis): DeciderOutcome {
    return this.decide(a.votes);
  }
}

export function thresholdDecider(count: number, fraction: Fraction, strict = false): Decider {
  return new ThresholdDecider(count, fraction, strict);
}

export function trustDecider(log: string): Decider {
  return new TrustDecider(log);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

function finish(
  a: Analysis,
  entry: Entry | undefined,
  decider: string | undefined,
  reasons: string[],
): Decision {
  return {
    fingerprint: entry?.fingerprint,
    decider: entry === undefined ? undefined : decider,
    agreeing: entry === undefined ? [] : entry.logs,
    mismatches: entry === undefined ? a.voters : a.voters.filter((v) => v.fingerprint !== entry.fingerprint),
    misses: a.misses,
    abstentions: a.abstentions,
    tally: a.tally.map((e) => ({ fingerprint: e.fingerprint, logs: e.logs, weight: e.micro / MICRO })),
    reasons,
  };
}

/** An ordered chain: the first decider that decides wins. */
export class DeciderChain {
  readonly deciders: readonly Decider[];
  readonly #names: readonly string[];

  constructor(deciders: readonly Decider[]) {
    this.deciders = [...deciders];
    this.#names = this.deciders.map((d) => formatDeciderSpec(d.spec));
  }

  /** Decides; fills every field of Decision. Only asynchronous deciders (scripts) cost extra promises. */
  decide(votes: readonly LogVote[]): Promise<Decision> {
    try {
      return this.#run(analyse(votes), [], 0);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #run(a: Analysis, reasons: string[], from: number): Promise<Decision> {
    for (let i = from; i < this.deciders.length; i++) {
      const decider = this.deciders[i]!;
      let outcome: DeciderOutcome | Promise<DeciderOutcome>;
      try {
        outcome = ANALYSED in decider ? (decider as AnalysedDecider)[ANALYSED](a) : decider.decide(a.votes);
      } catch (error) {
        // A decider must not throw; if a custom one does, it simply did not decide.
        outcome = { reason: `failed: ${describe(error)}` };
      }
      if (isPromiseLike(outcome))
        return Promise.resolve(outcome)
          .then(undefined, (error: unknown): DeciderOutcome => ({ reason: `failed: ${describe(error)}` }))
          .then((o) => this.#accept(a, reasons, i, o) ?? this.#run(a, reasons, i + 1));
      const decision = this.#accept(a, reasons, i, outcome);
      if (decision !== undefined) return Promise.resolve(decision);
    }
    return Promise.resolve(finish(a, undefined, undefined, reasons));
  }

  #accept(a: Analysis, reasons: string[], i: number, outcome: DeciderOutcome): Decision | undefined {
    const name = this.#names[i]!;
    if (outcome === null || typeof outcome !== 'object') outcome = { reason: 'no decision' };
    if ('fingerprint' in outcome && typeof outcome.fingerprint === 'string') {
      // Whatever a decider says, only a value some non-abstaining log voted for can be decided.
      const entry = a.byFingerprint.get(outcome.fingerprint);
      if (entry !== undefined) return finish(a, entry, name, reasons);
      reasons.push(`${name}: returned a value no log voted for`);
    } else reasons.push(`${name}: ${'reason' in outcome ? outcome.reason : 'no decision'}`);
    return undefined;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.deciders.map((d) => d.close?.()));
  }

  /** close(), under the name the node's parts are stopped by. */
  stop(): Promise<void> {
    return this.close();
  }
}

/** Builds the chain for specs; script deciders are started (their module loaded) before it returns. */
export async function createDeciderChain(
  specs: readonly DeciderSpec[],
  options: { baseDir?: string } = {},
): Promise<DeciderChain> {
  const baseDir = options.baseDir ?? process.cwd();
  const deciders: Decider[] = [];
  try {
    for (const spec of specs) {
      checkDeciderSpec(spec);
      if (spec.kind === 'threshold')
        deciders.push(thresholdDecider(spec.count, spec.fraction, spec.strict === true));
      else if (spec.kind === 'trust') deciders.push(trustDecider(spec.log));
      else {
        const script = new ScriptDecider(spec.module, { baseDir, timeoutMs: spec.timeoutMs });
        deciders.push(script);
        await script.start();
      }
    }
  } catch (error) {
    await Promise.allSettled(deciders.map((d) => d.close?.()));
    throw error;
  }
  return new DeciderChain(deciders);
}
