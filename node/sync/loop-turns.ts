/**
 * Turns of the event loop, granted one at a time: `next()` resolves in a later turn (its check phase,
 * setImmediate) than the previous grant, in the order asked. A sync awaits one before each piece of CPU
 * work that arrives in bursts, such as verifying a fetched entry bundle: up to maxConcurrency bundles
 * arrive at once, and verified back to back in one turn they held the node's one thread for 100+ ms
 * (`npm run bench -- hostile`, 100,000 entries), while every HTTP request waited. One piece a turn lets
 * the loop serve what came in between; the sync loses a turn's overhead per piece (microseconds).
 */
export class LoopTurns {
  private readonly waiting: (() => void)[] = [];
  private scheduled = false;

  /** Resolves in a turn of its own. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.waiting.shift()!();
      // Scheduled from within the check phase: runs in the next turn's, after that turn's I/O.
      this.schedule();
    });
  }
}
