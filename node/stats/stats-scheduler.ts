/**
 * When the reproducibility statistics read what the followed logs gained from the store: once no log is
 * syncing. Most entries never need it: a sync hands each step it stores to the statistics while it is in
 * memory (ReproStats.ingest); this is for what that left, such as a sync resumed after a restart.
 * Indexing from the store while syncing would add both peaks of LevelDB batches, and glibc keeps what
 * they free. A log that never stops syncing does not starve the statistics: after `maxDelayMs` they are
 * brought up to date anyway.
 */
import type { Follower, FollowerEvents } from '../sync/follower.ts';

export interface StatsSchedulerInit {
  /** Longest an update waits for the syncs to finish, in ms. Default 30,000. */
  readonly maxDelayMs?: number;
}

export interface StatsSchedulerComponents {
  /** Indexes a log's new entries (ReproStats.update). */
  update(logId: string): void;
  /** Undefined without a network: nothing syncs, updates run at once. */
  readonly follower: Follower | undefined;
}

const SYNC_ENDS = ['synced', 'sync-failed', 'fork'] as const;

export class StatsScheduler {
  private readonly components: StatsSchedulerComponents;
  private readonly maxDelayMs: number;
  private readonly deferred = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly onSyncEnd = (e: FollowerEvents[(typeof SYNC_ENDS)[number]]) => {
    if (e.type === 'synced') this.deferred.add(e.detail.logId);
    if (!this.syncing()) this.flush();
    else this.arm();
  };

  constructor(components: StatsSchedulerComponents, init: StatsSchedulerInit = {}) {
    this.components = components;
    this.maxDelayMs = init.maxDelayMs ?? 30_000;
  }

  start(): void {
    for (const type of SYNC_ENDS) this.components.follower?.addEventListener(type, this.onSyncEnd);
  }

  stop(): void {
    for (const type of SYNC_ENDS) this.components.follower?.removeEventListener(type, this.onSyncEnd);
    clearTimeout(this.timer);
    this.timer = undefined;
    this.deferred.clear();
  }

  /** The log may have grown: index it now, or once the syncs in progress are done. */
  update(logId: string): void {
    if (!this.syncing()) {
      this.components.update(logId);
      return;
    }
    this.deferred.add(logId);
    this.arm();
  }

  private syncing(): boolean {
    return this.components.follower?.statuses().some((s) => s.state === 'syncing') ?? false;
  }

  private arm(): void {
    if (this.timer !== undefined || this.deferred.size === 0) return;
    this.timer = setTimeout(() => this.flush(), this.maxDelayMs);
    this.timer.unref();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const ids = [...this.deferred];
    this.deferred.clear();
    for (const id of ids) this.components.update(id);
  }
}
