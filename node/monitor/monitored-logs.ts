/**
 * The bounded set of logs the checkpoint monitor tracks, in recency order, with its eviction policy.
 *
 * At most `maxLogs` logs: room for a new one evicts the least recently seen log that is neither held
 * (the node has its tree) nor forked; when every log is pinned that way, the new log is refused (its
 * checkpoint is ignored). At most `maxEvidence` forked logs that are not held: one more evicts the least
 * recently seen of them. So a flood of fresh keys can push out logs this node does not hold, never the
 * ones it holds. Recency survives a restart through the `seen` tick stored with each state (written
 * when a state changes, so a log seen only through duplicates may sort a little older after a restart).
 * Memory per log is a few small fields; the history and vkey stay in LevelDB, except for logs nobody
 * here follows, whose records stay in memory (node/monitor/checkpoint-records.ts): those are also bounded
 * by `maxMemoryBytes`, beyond which the least recently seen of them that is not forked is evicted.
 */
import { logger } from '@libp2p/logger';
import type { Hash } from '../../protocol/merkle.ts';
import type { CheckpointRecords, StateRecord } from './checkpoint-records.ts';

const log = logger('trustix:checkpoint-monitor');

/** In memory per log: enough to drop duplicates and to choose evictions without a read. */
export interface Tracked {
  size: number;
  root: Hash;
  forked: boolean;
  seen: number;
}

export interface MonitoredLogsLimits {
  readonly maxLogs: number;
  readonly maxEvidence: number;
  readonly maxMemoryBytes: number;
}

export class MonitoredLogs {
  private readonly records: CheckpointRecords;
  private readonly isHeld: (logId: string) => boolean;
  private readonly limits: MonitoredLogsLimits;
  /** Insertion order is recency order: touching a log moves it to the end. */
  private readonly tracked = new Map<string, Tracked>();
  private forked = 0;
  private tick = 0;

  constructor(records: CheckpointRecords, isHeld: (logId: string) => boolean, limits: MonitoredLogsLimits) {
    this.records = records;
    this.isHeld = isHeld;
    this.limits = limits;
  }

  /** Loads every stored state, least recently seen first. */
  async load(): Promise<void> {
    const loaded: [string, StateRecord][] = [];
    for await (const entry of this.records.states()) loaded.push(entry);
    loaded.sort((a, b) => a[1].seen - b[1].seen);
    this.tracked.clear();
    this.forked = 0;
    for (const [logId, s] of loaded) {
      this.tracked.set(logId, { size: s.size, root: s.root, forked: s.forked, seen: s.seen });
      if (s.forked) this.forked++;
      this.tick = Math.max(this.tick, s.seen);
    }
    log('tracking %d logs, %d forked', this.tracked.size, this.forked);
  }

  get size(): number {
    return this.tracked.size;
  }

  get(logId: string): Tracked | undefined {
    return this.tracked.get(logId);
  }

  /** Every tracked log ID, least recently seen first. */
  ids(): IterableIterator<string> {
    return this.tracked.keys();
  }

  /** Adds or refreshes `state` as the most recently seen; returns it (with its new tick) for storing. */
  touch(logId: string, state: Tracked): Tracked {
    state.seen = ++this.tick;
    this.tracked.delete(logId);
    this.tracked.set(logId, state);
    return state;
  }

  /** Records that a tracked log became forked (its state's flag is set by the caller). */
  countFork(): void {
    this.forked++;
  }

  /** Room for one more log. A new forked log may evict a forked one when nothing else can go. */
  async makeRoom(forForkedLog: boolean): Promise<boolean> {
    await this.trimMemory();
    if (this.tracked.size < this.limits.maxLogs) return true;
    if (await this.evictWhere((_, t) => !t.forked)) return true;
    return forForkedLog && (await this.evictWhere((_, t) => t.forked));
  }

  /** Evicts logs kept in memory only while they hold more than `maxMemoryBytes`. */
  async trimMemory(): Promise<void> {
    while (this.records.memoryBytes > this.limits.maxMemoryBytes)
      if (!(await this.evictWhere((id, t) => !t.forked && this.records.inMemory(id)))) return;
  }

  /** Room for one more forked log (`logId`, about to be marked): evicts a forked one over the cap. */
  async makeRoomForFork(logId: string): Promise<void> {
    if (this.forked >= this.limits.maxEvidence) await this.evictWhere((id, t) => t.forked && id !== logId);
  }

  /** Evicts the least recently seen log that is not held and matches `pick`, with all its records. */
  private async evictWhere(pick: (logId: string, t: Tracked) => boolean): Promise<boolean> {
    for (const [logId, t] of this.tracked) {
      if (!pick(logId, t) || this.isHeld(logId)) continue;
      await this.records.write(logId, await this.records.removeLog(logId), !this.records.inMemory(logId));
      this.tracked.delete(logId);
      if (t.forked) this.forked--;
      log('evicted log %s (least recently seen)', logId);
      return true;
    }
    return false;
  }
}
