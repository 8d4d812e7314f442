/**
 * The `threshold` decider, and `majority`, its strict form with fraction 1/2 (the vote's rule:
 * node/vote/decider.ts): a value decides when enough logs vote for it with enough of the weight of all
 * configured logs, and it alone qualifies. Its own module because the exact comparison of weights and
 * the reasons it gives when it does not decide are the rule's substance, apart from chaining deciders.
 */
import {
  checkDeciderSpec,
  type Decider,
  type DeciderOutcome,
  type DeciderSpec,
  type Fraction,
  type LogVote,
} from './decider-spec.ts';
import {
  ANALYSED,
  type AnalysedDecider,
  type Analysis,
  analyse,
  type Entry,
  MICRO,
} from './vote-analysis.ts';

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

export function thresholdDecider(count: number, fraction: Fraction, strict = false): Decider {
  return new ThresholdDecider(count, fraction, strict);
}
