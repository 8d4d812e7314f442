/**
 * The random start delay of a sync that gossip brought (FollowerInit.syncJitterMs), for a log at most
 * `smallSyncEntries` behind: the followers who hear of a checkpoint at the same moment then start one
 * after another and the later ones fetch from the earlier ones, not all from the builder (docs/SCALE.md).
 * Apart from the follower because it is a timer of its own on the log's record (Tracked.delay) that
 * holds the log's sync back.
 */
import { logger } from '@libp2p/logger';
import type { Tracked } from './follow-status.ts';

const log = logger('trustix:follower');

export interface SyncStartDelayInit {
  readonly syncJitterMs: number;
  readonly smallSyncEntries: number;
}

export class SyncStartDelay {
  private readonly init: SyncStartDelayInit;
  /** A random number in [0, 1) (FollowerComponents.random). */
  private readonly random: () => number;
  /** Called for a log whose delay is over: its sync may start. */
  private readonly schedule: (t: Tracked) => void;

  constructor(init: SyncStartDelayInit, random: () => number, schedule: (t: Tracked) => void) {
    this.init = init;
    this.random = random;
    this.schedule = schedule;
  }

  /** Whether a sync that gossip brought starts after a random delay (FollowerInit.syncJitterMs). */
  delays(t: Tracked): boolean {
    const behind = (t.target?.size ?? 0) - (t.store?.size ?? 0);
    return (
      this.init.syncJitterMs > 0 &&
      behind <= this.init.smallSyncEntries &&
      t.running === undefined &&
      !t.queued
    );
  }

  /** Holds the log's sync (to `t.target`) back for a random delay of up to syncJitterMs. */
  delay(t: Tracked): void {
    const ms = Math.floor(this.random() * this.init.syncJitterMs);
    log('log %s: syncing to %d in %d ms', t.followed.logId, t.target!.size, ms);
    t.delay = setTimeout(() => {
      t.delay = undefined;
      this.schedule(t);
    }, ms);
    t.delay.unref();
  }

  /** Cancels the start delay of the log's sync, if one runs. */
  undelay(t: Tracked): void {
    clearTimeout(t.delay);
    t.delay = undefined;
  }
}
