/**
 * How fast a source of a sync delivers, and so how many requests the sync keeps in flight to it when it
 * is the sync's only source (node/sync/source-slots.ts): as many as it delivers in `budgetMs`, by the
 * bandwidth-delay rule. A fast long link gets a deep pipeline, whose round trips then overlap; a slow
 * link stays shallow, so that few tiles wait at it that a faster source found meanwhile could bring
 * (docs/SCALE.md, "Sessions"; a request's time limit runs from its turn, node/sync/request-turns.ts, so
 * depth no longer risks it).
 *
 * The rate is measured over windows of at least WINDOW_MS of answers and smoothed (each window weighs
 * half): a 100,000-entry sync lasts ~5 s on a 40 ms link, so the depth must follow within a second. Until
 * a first window closes, the depth is the most (an optimistic start: the first followers of a new
 * checkpoint then take a step's worth of bundles from the builder at once and pass them on; starting at
 * the least took the builder's share of a 25-node swarm's append from ~19% to 35%, docs/SCALE.md).
 */

/** Least span of answers one measurement covers, in ms. */
const WINDOW_MS = 500;

export class DeliveryRate {
  private windowStart: number | undefined;
  private windowBytes = 0;
  private windowAnswers = 0;
  /** Bytes a second, and bytes an answer, once measured. */
  private rate: number | undefined;
  private answerBytes = 0;

  /** An answer of `bytes` arrived at `now` (ms). */
  add(bytes: number, now: number): void {
    if (this.windowStart === undefined) {
      // The window opens with a first answer: the time before it is the request's, not the rate's.
      this.windowStart = now;
      return;
    }
    this.windowBytes += bytes;
    this.windowAnswers++;
    const elapsed = now - this.windowStart;
    if (elapsed < WINDOW_MS) return;
    const rate = (this.windowBytes * 1000) / elapsed;
    const perAnswer = this.windowBytes / this.windowAnswers;
    this.rate = this.rate === undefined ? rate : (this.rate + rate) / 2;
    this.answerBytes = this.answerBytes === 0 ? perAnswer : (this.answerBytes + perAnswer) / 2;
    this.windowStart = now;
    this.windowBytes = 0;
    this.windowAnswers = 0;
  }

  /** Requests in flight that the source delivers in `budgetMs`, from `min` to `max`; `max` until measured. */
  depth(min: number, max: number, budgetMs: number): number {
    if (this.rate === undefined || this.answerBytes <= 0) return max;
    const depth = Math.floor((this.rate * budgetMs) / 1000 / this.answerBytes);
    return Math.max(min, Math.min(max, depth));
  }
}
