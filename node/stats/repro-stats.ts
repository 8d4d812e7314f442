/**
 * Reproducibility statistics, kept incrementally as followed logs grow: per log (entries, paths), per
 * pair of logs (paths both hold, paths they agree on), per path (its verdict, node/stats/repro-record.ts), the
 * index of mismatching paths, and per day the verdicts reached. Everything lives in the node's LevelDB
 * (node/store/layout.ts, `repro!`), so requests read counters and one index range, never rescan the logs.
 *
 * Indexing: each log has a cursor (entries indexed). When a log grows (`update`, after a sync) its new
 * entries are read in chunks, in order, from its verified local copy; each chunk is applied in ONE atomic
 * batch (path records, mismatch index, counters, cursor), so a crash leaves counts that match the cursor
 * exactly and indexing resumes where it stopped. Logs are indexed one at a time (a serial queue).
 *
 * Unfollowing a log keeps what it contributed (its entries were said); views list followed logs only.
 */

import { TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { TILE_WIDTH } from '../../protocol/constants.ts';
import { StoreCorruptError } from '../errors.ts';
import { type BatchOp, type Database, writeBatch } from '../store/database.ts';
import type { FollowedLogs } from '../store/followed-logs.ts';
import {
  REPRO_COUNTERS_KEY,
  reproLogKey,
  reproLogRange,
  reproMismatchKey,
  reproPathKey,
} from '../store/layout.ts';
import { pathHashBytes } from '../store/log-entries.ts';
import type { LogStore } from '../store/log-store.ts';
import type { VerifiedBundle } from '../sync/sync-stage.ts';
import {
  type ChunkEntries,
  entriesOfBundles,
  hashPartOfEntry,
  pathOfEntry,
  readEntries,
} from './repro-entries.ts';
import { addToRecord, type Counters, encodeMismatch } from './repro-record.ts';
import { ReproViews } from './repro-views.ts';

const log = logger('trustix:repro');
const decoder = new TextDecoder();
const encoder = new TextEncoder();

export type { Counters };

export interface ReproStatsComponents {
  readonly db: Database;
  readonly followed: FollowedLogs;
  /** The verified local copy of a followed log. */
  store(logId: string): LogStore | undefined;
}

export interface ReproStatsInit {
  /** Entries applied per atomic batch. Default 4,096. */
  readonly chunkEntries?: number;
  /** The clock for daily buckets (UTC). Default Date.now. */
  readonly now?: () => number;
}

/** A log's place in the statistics (`repro!l!<logId>`). */
interface Registered {
  readonly n: number;
  indexed: number;
}

export interface ReproStatsEvents {
  /** Entries of a log were indexed, up to `indexed`. */
  indexed: CustomEvent<{ logId: string; indexed: number }>;
}

export class ReproStats extends TypedEventEmitter<ReproStatsEvents> {
  private readonly components: ReproStatsComponents;
  private readonly chunkEntries: number;
  private readonly now: () => number;
  private counters: Counters = emptyCounters();
  private readonly registry = new Map<string, Registered>();
  private queue: Promise<void> = Promise.resolve();
  private readonly pending = new Set<string>();
  private running = false;
  /** The read side: summaries, matrix, mismatch pages, daily series, path reports. */
  readonly views: ReproViews;

  constructor(components: ReproStatsComponents, init: ReproStatsInit = {}) {
    super();
    this.components = components;
    this.chunkEntries = init.chunkEntries ?? 4096;
    this.now = init.now ?? Date.now;
    this.views = new ReproViews({
      db: components.db,
      followed: components.followed,
      store: (id) => components.store(id),
      counters: () => this.counters,
      numberOf: (id) => this.registry.get(id)?.n,
      logIdOf: (n) => [...this.registry].find(([, r]) => r.n === n)?.[0],
      indexed: (id) => this.registry.get(id)?.indexed ?? 0,
    });
  }

  /** Loads the counters and cursors, and indexes whatever the followed logs hold beyond them. */
  async start(): Promise<void> {
    const stored = await this.components.db.get(REPRO_COUNTERS_KEY);
    try {
      if (stored !== undefined) this.counters = JSON.parse(decoder.decode(stored)) as Counters;
      for await (const [key, value] of this.components.db.iterator(reproLogRange())) {
        const logId = decoder.decode(key.subarray(key.length - 64));
        this.registry.set(logId, JSON.parse(decoder.decode(value)) as Registered);
      }
    } catch (cause) {
      throw new StoreCorruptError('the reproducibility statistics are damaged', { cause });
    }
    this.running = true;
    for (const f of this.components.followed.list()) this.update(f.logId);
  }

  /** Stops after the chunk in progress (its batch is written whole). */
  async stop(): Promise<void> {
    this.running = false;
    this.pending.clear();
    await this.queue;
  }

  /**
   * The log may have grown: index its new entries. Coalesced: every log that asked while a run was
   * queued is indexed by that one run, together (see indexLogs).
   */
  update(logId: string): void {
    if (!this.running || this.pending.has(logId)) return;
    const first = this.pending.size === 0;
    this.pending.add(logId);
    if (!first) return;
    this.queue = this.queue.then(async () => {
      const ids = [...this.pending];
      this.pending.clear();
      try {
        await this.indexLogs(ids);
      } catch (err) {
        log.error('indexing %s: %s', ids.join(', '), err);
      }
    });
  }

  /** Resolves once every update asked for so far is done. */
  async idle(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.queue;
      await seen;
    } while (seen !== this.queue);
  }

  /**
   * Indexes the entries a sync has just stored (LogSyncComponents.stored) from its verified bundles, in
   * memory, when they continue the log's cursor: the log is then never read back for its statistics.
   * Entries that do not (a sync resumed after a restart) are left to `update`, which reads them. The
   * cursor may so run ahead of the log's committed size while a sync is staging verified entries.
   * Serialised with every other indexing run; resolves when done (which paces the sync).
   */
  ingest(logId: string, bundles: readonly VerifiedBundle[]): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.queue = this.queue.then(async () => {
      if (!this.running || this.components.followed.get(logId) === undefined) return;
      const reg = this.register(logId);
      const chunk = entriesOfBundles(bundles, reg.indexed);
      if (chunk === undefined) return;
      try {
        const batch = await this.prepareBatch(this.counters, [{ logId, n: reg.n, ...chunk }], new Map());
        await writeBatch(this.components.db, batch.ops);
        this.counters = batch.counters;
        reg.indexed = chunk.to;
      } catch (err) {
        log.error('indexing what a sync of %s stored: %s', logId, err);
      }
    });
    return this.queue;
  }

  /**
   * Indexes what the logs hold beyond their cursors. Logs with pending entries are indexed together:
   * each batch takes a share of every one of them, so a path several logs hold (the common case: they
   * build the same things) has its record read and written once per batch rather than once per log.
   */
  private async indexLogs(logIds: readonly string[]): Promise<void> {
    const logs = logIds.flatMap((logId) => {
      const store = this.components.store(logId);
      if (store === undefined || this.components.followed.get(logId) === undefined) return [];
      return [{ logId, store, reg: this.register(logId), from: 0 }];
    });
    for (const l of logs) l.from = l.reg.indexed;
    // Pipelined: batch k+1 is read and computed while batch k is being written. Its path records may be
    // read before that write lands, so the records batch k wrote overlay what was read.
    let working = this.counters;
    let writing: Promise<void> = Promise.resolve();
    let overlay = new Map<string, Uint8Array>();
    try {
      for (;;) {
        const behind = logs.filter((l) => l.from < l.store.size);
        if (!this.running || behind.length === 0) break;
        const share = Math.max(TILE_WIDTH, Math.ceil(this.chunkEntries / behind.length));
        const segments: Segment[] = [];
        for (const l of behind) {
          const to = Math.min(l.store.size, l.from + share);
          segments.push({ logId: l.logId, n: l.reg.n, to, ...(await readEntries(l.store, l.from, to)) });
          l.from = to;
        }
        const batch = await this.prepareBatch(working, segments, overlay);
        await writing;
        working = batch.counters;
        overlay = batch.records;
        writing = writeBatch(this.components.db, batch.ops).then(() => {
          this.counters = batch.counters;
          for (const seg of segments) this.registry.get(seg.logId)!.indexed = seg.to;
        });
      }
    } finally {
      await writing;
    }
    for (const l of logs)
      this.dispatchEvent(new CustomEvent('indexed', { detail: { logId: l.logId, indexed: l.reg.indexed } }));
  }

  private register(logId: string): Registered {
    let reg = this.registry.get(logId);
    if (reg === undefined) {
      const n = Math.max(-1, ...[...this.registry.values()].map((r) => r.n)) + 1;
      if (n > 0xffff) throw new RangeError('more than 65,536 logs in the statistics');
      reg = { n, indexed: 0 };
      this.registry.set(logId, reg);
    }
    return reg;
  }

  /**
   * The atomic batch that applies `segments` (entries of several logs, each ending at its `to`) on top of
   * `counters`: path records, mismatch index, counters and cursors. `overlay` holds records newer than
   * the database's.
   */
  private async prepareBatch(
    counters: Counters,
    segments: readonly Segment[],
    overlay: ReadonlyMap<string, Uint8Array>,
  ): Promise<{ ops: BatchOp[]; counters: Counters; records: Map<string, Uint8Array> }> {
    // Group by path, then by log: a batch holds a path once per log that has it (or more: rebuilds).
    type Group = { id: string; hash: Uint8Array; entry: Uint8Array; byLog: Map<number, string[]> };
    const byPath = new Map<string, Group>();
    for (const { n, entries, digests } of segments)
      entries.forEach((entry, i) => {
        const hashPart = hashPartOfEntry(entry);
        let group = byPath.get(hashPart);
        if (group === undefined) {
          group = { id: hashPart, hash: pathHashBytes(hashPart), entry, byLog: new Map() };
          byPath.set(hashPart, group);
        }
        const list = group.byLog.get(n);
        if (list === undefined) group.byLog.set(n, [digests[i]!]);
        else list.push(digests[i]!);
      });
    const groups = [...byPath.values()];
    const stored = await this.components.db.getMany(groups.map((g) => reproPathKey(g.hash)));
    const written = new Map<string, Uint8Array>();
    const next = structuredClone(counters) as Counters;
    for (const { n, entries } of segments)
      slot(next.logs, n, () => ({ entries: 0, paths: 0 })).entries += entries.length;
    const ops: BatchOp[] = [];
    groups.forEach((g, i) => {
      let record = overlay.get(g.id) ?? stored[i];
      let last: ReturnType<typeof addToRecord>;
      for (const [n, digests] of g.byLog) {
        const change = addToRecord(record, n, digests);
        if (change === undefined) continue;
        if (change.newForLog) next.logs[n]!.paths++;
        for (const [m, shared, agree] of change.pairs) {
          const pair = slot(next.pairs, m < n ? `${m},${n}` : `${n},${m}`, (): [number, number] => [0, 0]);
          pair[0] += shared;
          pair[1] += agree;
        }
        if (change.before !== undefined) next.paths[change.before]--;
        next.paths[change.after]++;
        record = change.record;
        last = change;
      }
      if (last === undefined) return;
      written.set(g.id, last.record);
      ops.push({ type: 'put', key: reproPathKey(g.hash), value: last.record });
      if (last.after === 'mismatch')
        ops.push({
          type: 'put',
          key: reproMismatchKey(g.hash),
          value: encodeMismatch(last.logs, pathOfEntry(g.entry)),
        });
    });
    next.daily[new Date(this.now()).toISOString().slice(0, 10)] = [
      next.paths.reproducible,
      next.paths.mismatch,
    ];
    for (const { logId, n, to } of segments)
      ops.push({
        type: 'put',
        key: reproLogKey(logId),
        value: encoder.encode(JSON.stringify({ n, indexed: to })),
      });
    ops.push({ type: 'put', key: REPRO_COUNTERS_KEY, value: encoder.encode(JSON.stringify(next)) });
    return { ops, counters: next, records: written };
  }
}

/** `map[key]`, created by `make` when absent. */
function slot<T>(map: Record<string, T>, key: string | number, make: () => T): T {
  let value = map[key];
  if (value === undefined) {
    value = make();
    map[key] = value;
  }
  return value;
}

function emptyCounters(): Counters {
  return { paths: { reproducible: 0, mismatch: 0, inconclusive: 0 }, logs: {}, pairs: {}, daily: {} };
}

/** The entries of one log in a batch, up to its new cursor `to`. */
interface Segment extends ChunkEntries {
  readonly logId: string;
  readonly n: number;
  readonly to: number;
}
