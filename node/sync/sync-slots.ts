/**
 * The follower's sync slots: at most `maxConcurrentSyncs` logs sync at once and the others wait in line,
 * plus one extra slot for a small catch-up (`smallSyncEntries`); a sync that used its time slice
 * (`sliceMs`) while a log waits yields its slot (aborted with SliceEnded: its verified steps stay staged)
 * and goes to the back of the line, so a slow builder (or slow sources) cannot hold a slot forever.
 */
import { logger } from '@libp2p/logger';
import type { Tracked } from './follow-status.ts';

const log = logger('trustix:follower');

/** The abort reason of a sync that used its time slice while another log waited. */
export class SliceEnded extends Error {
  constructor() {
    super('time slice ended');
  }
}

export interface SyncSlotsInit {
  readonly maxConcurrentSyncs: number;
  readonly sliceMs: number;
  readonly smallSyncEntries: number;
}

export class SyncSlots {
  private readonly init: SyncSlotsInit;
  /** Runs one sync of the log in the slot it was given. */
  private readonly run: (t: Tracked, signal: AbortSignal) => Promise<void>;
  /** Called for a log whose sync ended, and for the next in line: it may enter again. */
  private readonly next: (t: Tracked) => void;
  private readonly waiting: Tracked[] = [];
  private active = 0;
  /** Syncs running in the extra slot for small catch-ups (at most one). */
  private express = 0;
  /** Running syncs whose time slice is over: the first to yield when a log waits. */
  private readonly overdue = new Set<Tracked>();

  constructor(
    init: SyncSlotsInit,
    run: (t: Tracked, signal: AbortSignal) => Promise<void>,
    next: (t: Tracked) => void,
  ) {
    this.init = init;
    this.run = run;
    this.next = next;
  }

  /** Starts the sync of `t` (state 'syncing', with a target and a store) in a slot, or puts it in line. */
  enter(t: Tracked): void {
    if (this.active >= this.init.maxConcurrentSyncs) {
      const behind = t.target!.size - t.store!.size;
      if (this.express === 0 && behind <= this.init.smallSyncEntries) {
        this.launch(t, true);
        return;
      }
      t.queued = true;
      this.waiting.push(t);
      // Someone waits: a sync past its slice yields its slot.
      const [late] = this.overdue;
      if (late !== undefined) this.yieldSlot(late);
      return;
    }
    this.launch(t);
  }

  /** Takes `t` out of the line (unfollowed). */
  leave(t: Tracked): void {
    const at = this.waiting.indexOf(t);
    if (at >= 0) this.waiting.splice(at, 1);
  }

  /** Ends a sync's turn: it stops after its stored steps and goes to the back of the line. */
  private yieldSlot(t: Tracked): void {
    this.overdue.delete(t);
    log('log %s used its time slice: it yields its slot to a waiting log', t.followed.logId);
    t.abort?.abort(new SliceEnded());
  }

  private launch(t: Tracked, express = false): void {
    if (express) this.express++;
    else this.active++;
    const abort = new AbortController();
    t.abort = abort;
    const slice = setTimeout(() => {
      if (express) return;
      if (this.waiting.length > 0) this.yieldSlot(t);
      else this.overdue.add(t);
    }, this.init.sliceMs);
    slice.unref();
    t.running = this.run(t, abort.signal).finally(() => {
      clearTimeout(slice);
      this.overdue.delete(t);
      if (express) this.express--;
      else this.active--;
      t.running = undefined;
      t.abort = undefined;
      const next = this.waiting.shift();
      if (next !== undefined) {
        next.queued = false;
        this.next(next);
      }
      this.next(t); // a newer checkpoint may have arrived meanwhile
    });
  }
}
