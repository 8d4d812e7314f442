/**
 * The turns of the requests in flight to one source of a sync (node/sync/source-pool.ts). A request's
 * turn comes when it is sent, and again each time the source answers a request sent before it: its time
 * limit runs from its latest turn, as a tile exchange session times each answer from its turn
 * (node/network/request-session.ts). So a source that keeps answering, however slowly (a home builder's
 * uplink, a queue of 48 bundles on one session), never times out the requests queued behind, and one
 * that stops answering is caught one time limit after its last answer. A fixed limit per request would
 * have to guess the queue's length and the link's rate; this one needs neither.
 */

/** One request in flight. */
export interface Turn {
  /** Order of sending, within the source. */
  readonly seq: number;
  /** When its latest turn came (ms, the caller's clock). */
  at: number;
}

export class RequestTurns {
  private readonly waiting = new Set<Turn>();
  private sent = 0;

  /** A request sent at `now`: its turn has come. */
  begin(now: number): Turn {
    const turn = { seq: this.sent++, at: now };
    this.waiting.add(turn);
    return turn;
  }

  /**
   * The request of `turn` ended at `now`. Answered (not failed): the requests sent after it have their
   * turn now. A failure gives no turn: it says nothing of the source's progress.
   */
  end(turn: Turn, now: number, answered: boolean): void {
    if (!this.waiting.delete(turn) || !answered) return;
    for (const t of this.waiting) if (t.seq > turn.seq && t.at < now) t.at = now;
  }
}
