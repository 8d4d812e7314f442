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
 *   and ties decide nothing (node/vote/threshold-decider.ts; the votes classified and weighed once per
 *   decision for the built-in deciders: vote-analysis.ts).
 * - `majority` (count M, default 2): the same with fraction 1/2, strictly: w > W / 2. The default vote.
 * - `trust NAME`: what the named log says (nothing when it is not followed, silent, forked or contradicting;
 *   node/vote/trust-decider.ts).
 * - `script PATH`: a user module's `decide(votes)`, run in a QuickJS sandbox (node/vote/script-decider.ts;
 *   the sandbox itself: script-sandbox.ts).
 * The shorthand that names deciders in config files and on the command line: node/vote/decider-spec.ts.
 * This module holds the chain, the Decision it returns, and the chain built from specs; it is the vote's
 * door, re-exporting the deciders and the specs.
 */
import {
  checkDeciderSpec,
  type Decider,
  type DeciderOutcome,
  type DeciderSpec,
  formatDeciderSpec,
  type LogVote,
} from './decider-spec.ts';

import { ScriptDecider } from './script-decider.ts';
import { thresholdDecider } from './threshold-decider.ts';
import { trustDecider } from './trust-decider.ts';
import {
  type Abstention,
  ANALYSED,
  type AnalysedDecider,
  type Analysis,
  analyse,
  type Entry,
  MICRO,
  type Mismatch,
} from './vote-analysis.ts';

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
export { thresholdDecider } from './threshold-decider.ts';
export { trustDecider } from './trust-decider.ts';
export type { Abstention, Mismatch } from './vote-analysis.ts';

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
