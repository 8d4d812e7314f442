/**
 * The checkpoint monitor's decision queue: one task at a time reads and writes its state, so decisions
 * never interleave. Gossip waits here within a bound (`maxPending`): beyond it, the monitor ignores
 * messages rather than queue without end (docs/SECURITY.md, "Keyless peers").
 */

export class DecisionQueue {
  private readonly maxPending: number;
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;

  constructor(maxPending: number) {
    this.maxPending = maxPending;
  }

  /** Whether gossip from a peer must be turned away: the queue holds `maxPending` gossip tasks. */
  get full(): boolean {
    return this.pending >= this.maxPending;
  }

  /** A task for a gossip message: counted in the bounded queue when it comes from a peer. */
  async gossipTask<T>(from: string | undefined, task: () => Promise<T>): Promise<T> {
    if (from === undefined) return this.exclusive(task);
    this.pending++;
    try {
      return await this.exclusive(task);
    } finally {
      this.pending--;
    }
  }

  /** Runs `task` after every task queued before it: one decision at a time reads and writes state. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
