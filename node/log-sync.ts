/**
 * One verified sync of a followed log: brings the local copy (a LogStore, possibly empty) up to a newer
 * signed checkpoint with tiles and entry bundles from untrusted sources (node/source-pool.ts).
 *
 *  1. The new tree's edge is checked against the signed root, then its upper levels (tiles of level >= 1
 *     that differ from the local tree) each against the tile above (node/remote-tree.ts).
 *  2. Consistency: the new tree's root at the local size must equal the local checkpoint's root. If not,
 *     the log key signed two histories: LogForkError with both notes and the evidence; nothing is stored.
 *  3. Level-0 tiles and entry bundles are fetched in parallel over the sources, each tile checked against
 *     its verified parent, each bundle strictly decoded, its entries' leaf hashes equal to the tile's and
 *     each entry a valid fingerprint (protocol/entry.ts): a log carrying anything else is not served on.
 *  4. Storage, in steps of `stepBundles` bundles (or `stepBytes`): each step is ONE synced batch of whole
 *     verified bundles, their level-0 tiles, their path index records, and the staging record (leaves
 *     staged, target note). The last batch adds the upper tiles and the checkpoint note and deletes the
 *     staging record; only then is the checkpoint adopted (LogStore.advance).
 *
 * Staging without a move. Staged tiles and bundles go straight to their final keys: LogStore reads clip
 * everything (tiles, bundles, path index lists) to the checkpoint's size, and the staged data is
 * consistent with the local tree (checked in step 2 before the first write), so what the store serves
 * never changes until the checkpoint does. A restarted sync reads the staging record and skips the staged
 * bundles (it refetches only the upper tiles, 1/256 of the hash tiles); a target inconsistent with the
 * staged one is a fork like any other. Memory: the upper tiles (about n / 8 bytes for n new leaves), the
 * window of `windowBundles` verified bundles awaiting their step, and the requests in flight.
 */
import { logger } from '@libp2p/logger';
import { openCheckpoint, type SignedCheckpoint } from '../protocol/checkpoint.ts';
import { HASH_SIZE, TILE_WIDTH } from '../protocol/constants.ts';
import { parseEntry } from '../protocol/entry.ts';
import { decodeEntryBundle } from '../protocol/entry-bundle.ts';
import { VerificationError } from '../protocol/errors.ts';
import {
  buildEvidence,
  type Evidence,
  evidenceProofFromHashes,
  evidenceProofIds,
} from '../protocol/evidence.ts';
import { EMPTY_ROOT, type HashReader, hashesEqual, leafHash, treeHash } from '../protocol/merkle.ts';
import { newTiles } from '../protocol/tiles.ts';
import { type BatchOp, type Database, writeBatch } from './database.ts';
import { InvalidLogEntryError, LogForkError, StoreCorruptError } from './errors.ts';
import {
  decodeIndexList,
  decodeSyncStage,
  encodeIndexList,
  encodeSyncStage,
  logPrefix,
  syncStageKey,
} from './layout.ts';
import type { LogStore } from './log-store.ts';
import { RemoteTree } from './remote-tree.ts';
import { type SourceFailedEvent, SourcePool, type SourcePoolInit } from './source-pool.ts';
import type { TileSource } from './tile-source.ts';

const log = logger('trustix:sync');

export interface LogSyncComponents {
  readonly db: Database;
  /** The local copy of the log (LogStore.open on the node's database). */
  readonly store: LogStore;
  readonly sources: readonly TileSource[];
}

export interface LogSyncInit extends SourcePoolInit {
  /** Entry bundles per stored step. Default 64 (16,384 entries). */
  readonly stepBundles?: number;
  /** Bundle bytes after which a step is stored early. Default 32 MiB. */
  readonly stepBytes?: number;
  /** Verified bundles held before their step is stored (bounds memory). Default 256; >= stepBundles. */
  readonly windowBundles?: number;
  /** Store directory of the log's entries. Default '/nix/store'. */
  readonly storeDir?: string;
}

/** Counts in entries beyond the local copy; `bytes` is everything received, verified or not. */
export interface SyncProgress {
  readonly logId: string;
  readonly fromSize: number;
  readonly targetSize: number;
  /** Leaves already staged by an earlier, interrupted sync (not fetched again). */
  readonly resumedFrom: number;
  readonly verified: number;
  readonly stored: number;
  readonly total: number;
  readonly bytes: number;
}

export interface SyncResult {
  readonly logId: string;
  /** The local checkpoint after the sync. */
  readonly checkpoint: SignedCheckpoint | undefined;
  readonly fromSize: number;
  readonly toSize: number;
  readonly resumedFrom: number;
  readonly bytes: number;
  /** Sources dropped during the sync. */
  readonly failedSources: readonly string[];
}

export interface LogSyncEvents {
  progress: CustomEvent<SyncProgress>;
  'source-failed': CustomEvent<SourceFailedEvent>;
}

/** A verified entry bundle with its level-0 tile, waiting for its step. */
interface Unit {
  readonly index: number;
  readonly tile: Uint8Array;
  readonly bundle: Uint8Array;
  /** Hash parts of the entries to index (those beyond the local tree), by leaf index. */
  readonly paths: readonly (readonly [number, string])[];
}

export class LogSync extends EventTarget {
  private readonly components: LogSyncComponents;
  private readonly init: Required<LogSyncInit>;
  private pool: SourcePool | undefined;
  private readonly failed: string[] = [];
  private readonly extra: TileSource[] = [];

  constructor(components: LogSyncComponents, init: LogSyncInit = {}) {
    super();
    this.components = components;
    this.init = {
      requestTimeoutMs: 15_000,
      perSourceConcurrency: 4,
      maxConcurrency: 16,
      busyRetries: 3,
      busyBackoffMs: 250,
      stepBundles: 64,
      stepBytes: 32 * 1024 * 1024,
      windowBundles: 256,
      storeDir: '/nix/store',
      ...init,
    };
    if (this.init.windowBundles < this.init.stepBundles || this.init.stepBundles < 1)
      throw new RangeError('windowBundles must be at least stepBundles, which must be positive');
  }

  /** Adds a source to the running (or next) sync, e.g. a provider found meanwhile. */
  addSource(source: TileSource): void {
    if (this.pool === undefined) this.extra.push(source);
    else this.pool.add(source);
  }

  /** Ids of the sources still in use. */
  sources(): string[] {
    return this.pool?.active() ?? [...this.components.sources, ...this.extra].map((s) => s.id);
  }

  /**
   * Syncs to `target` (a note signed by the log key, verified here). Resolves with the new local state;
   * rejects with LogForkError, SyncFailedError (no honest source left), or the abort reason. On failure
   * the committed copy is unchanged.
   */
  async run(
    target: Uint8Array | SignedCheckpoint,
    options: { signal?: AbortSignal } = {},
  ): Promise<SyncResult> {
    const { store, db } = this.components;
    const goalIn = openCheckpoint(target instanceof Uint8Array ? target : target.note, store.key.verifier);
    if (goalIn.size === 0 && !hashesEqual(goalIn.root, EMPTY_ROOT))
      throw new VerificationError('checkpoint', 'size 0 with a root other than the empty tree');
    const local = store.checkpoint();
    const fromSize = store.size;
    const stage = await this.loadStage();

    // Sync to the larger of the target and a staged target; the other must be consistent with it.
    let goal = goalIn;
    let other = stage?.checkpoint;
    if (other !== undefined && other.size > goal.size) [goal, other] = [other, goal];
    if (other !== undefined && Buffer.from(other.note).equals(goal.note)) other = undefined;

    if (goal.size <= fromSize) {
      for (const cp of [goal, other]) if (cp !== undefined) await this.checkHeld(cp);
      if (stage !== undefined) await writeBatch(db, [{ type: 'del', key: this.stageKey() }]);
      return this.result(fromSize, 0, 0);
    }

    const controller = new AbortController();
    const signal =
      options.signal === undefined ? controller.signal : AbortSignal.any([options.signal, controller.signal]);
    const pool = new SourcePool(
      store.logId,
      [...this.components.sources, ...this.extra],
      this.init,
      (event) => {
        this.failed.push(event.sourceId);
        this.dispatchEvent(new CustomEvent('source-failed', { detail: event }));
      },
      signal,
    );
    this.pool = pool;
    try {
      const tree = new RemoteTree(goal.size, goal.root, pool);
      // Upper levels first: every level-0 tile is then checked against a verified parent.
      await tree.ensure(newTiles(fromSize, goal.size).filter((t) => t.level > 0));
      if (local !== undefined && fromSize > 0 && !hashesEqual(await treeHash(fromSize, tree), local.root))
        throw await this.fork(local, goal, tree);
      if (other !== undefined) {
        if (other.size <= fromSize) await this.checkHeld(other);
        else if (!hashesEqual(await treeHash(other.size, tree), other.root))
          throw await this.fork(other, goal, tree);
      }
      const resumed = stage === undefined ? fromSize : Math.max(fromSize, Math.min(stage.staged, goal.size));
      await this.fetchAndStore(goal, tree, pool, fromSize, resumed, controller);
      log('log %s synced %d -> %d (%d bytes)', store.logId, fromSize, goal.size, pool.bytes);
      return this.result(fromSize, resumed, pool.bytes);
    } finally {
      controller.abort();
    }
  }

  /** Phase 3 and 4: bundles fetched by parallel workers, stored in order, one step at a time. */
  private async fetchAndStore(
    goal: SignedCheckpoint,
    tree: RemoteTree,
    pool: SourcePool,
    fromSize: number,
    resumed: number,
    controller: AbortController,
  ): Promise<void> {
    const n = goal.size;
    const first = Math.floor(Math.max(fromSize, resumed) / TILE_WIDTH);
    const end = Math.ceil(n / TILE_WIDTH);
    const lastFull = Math.floor(n / TILE_WIDTH); // units below are full bundles
    const total = n - Math.max(fromSize, resumed);
    const ready = new Map<number, Unit>();
    let next = first;
    let storedTo = first; // units below are written
    let verified = 0;
    let stored = 0;
    let writing: Promise<void> = Promise.resolve();
    let writeError: unknown;
    let windowWaiters: (() => void)[] = [];
    const wakeWindow = () => {
      const waiters = windowWaiters;
      windowWaiters = [];
      for (const wake of waiters) wake();
    };
    const progress = () =>
      this.dispatchEvent(
        new CustomEvent('progress', {
          detail: {
            logId: this.components.store.logId,
            fromSize,
            targetSize: n,
            resumedFrom: resumed,
            verified,
            stored,
            total,
            bytes: pool.bytes,
          },
        }),
      );
    const newLeaves = (i: number) =>
      Math.min(n, (i + 1) * TILE_WIDTH) - Math.max(fromSize, resumed, i * TILE_WIDTH);

    // Stores the contiguous verified units from storedTo once a step's worth is ready (all of them when
    // `final`). Steps are chained: each sees the path index records the previous one wrote.
    const flush = (final: boolean): Promise<void> => {
      writing = writing
        .then(async () => {
          if (writeError !== undefined) return;
          const units: Unit[] = [];
          let bytes = 0;
          for (let i = storedTo; ready.has(i) && (final || i < lastFull); i++) {
            units.push(ready.get(i)!);
            bytes += ready.get(i)!.bundle.length;
          }
          if (!final && units.length < this.init.stepBundles && bytes < this.init.stepBytes) return;
          await this.writeStep(units, goal, tree, fromSize, final);
          for (const u of units) {
            ready.delete(u.index);
            stored += newLeaves(u.index);
          }
          storedTo += units.length;
          wakeWindow();
          progress();
        })
        .catch((err: unknown) => {
          writeError ??= err;
          controller.abort(err);
          wakeWindow();
        });
      return writing;
    };

    const worker = async () => {
      while (!controller.signal.aborted) {
        const i = next++;
        if (i >= end) return;
        while (i >= storedTo + this.init.windowBundles) {
          await new Promise<void>((resolve) => windowWaiters.push(resolve));
          if (controller.signal.aborted) return;
        }
        const unit = await this.fetchUnit(i, tree, pool, fromSize);
        ready.set(i, unit);
        verified += newLeaves(i);
        progress();
        // Not awaited: fetching goes on while a step is written; the window bounds what waits.
        if (i < lastFull) void flush(false);
      }
    };

    const workers = Array.from({ length: Math.max(1, Math.min(this.init.maxConcurrency, end - first)) }, () =>
      worker().catch((err: unknown) => {
        controller.abort(err);
        wakeWindow();
        throw err;
      }),
    );
    const outcomes = await Promise.allSettled(workers);
    await writing;
    if (writeError !== undefined) throw writeError;
    const failure = outcomes.find((o) => o.status === 'rejected');
    if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
    await flush(true);
    if (writeError !== undefined) throw writeError;
    if (ready.size !== 0) throw new Error('sync finished with unstored bundles');
  }

  /** Fetches bundle `i` (and its level-0 tile unless verified already) from one source, and verifies both. */
  private fetchUnit(i: number, tree: RemoteTree, pool: SourcePool, fromSize: number): Promise<Unit> {
    const tile = tree.tileAt(0, i);
    const known = tree.get(tile);
    const bundleId = { kind: 'entries', index: i, width: tile.width } as const;
    const storeDir = this.init.storeDir;
    return pool.fetch(known === undefined ? [tile, bundleId] : [bundleId], (bodies) => {
      const data = known ?? bodies[0]!;
      const bundle = bodies[bodies.length - 1]!;
      if (known === undefined) tree.verifyFull(tile, data);
      const entries = decodeEntryBundle(bundle, tile.width);
      entries.forEach((entry, j) => {
        const at = j * HASH_SIZE;
        if (!hashesEqual(leafHash(entry), data.subarray(at, at + HASH_SIZE)))
          throw new VerificationError(
            'entry bundle',
            `entry ${i * TILE_WIDTH + j} does not match its leaf hash`,
          );
      });
      // The bytes are the log's own now: a non-entry is the log's fault, not the source's.
      const paths: [number, string][] = [];
      entries.forEach((entry, j) => {
        const index = i * TILE_WIDTH + j;
        let storePath: string;
        try {
          storePath = parseEntry(entry, storeDir).storePath;
        } catch (cause) {
          throw new InvalidLogEntryError(this.components.store.logId, index, { cause });
        }
        if (index >= fromSize)
          paths.push([index, storePath.slice(storeDir.length + 1, storeDir.length + 33)]);
      });
      return { index: i, tile: data, bundle, paths };
    });
  }

  /**
   * One atomic synced batch: the units' tiles and bundles and the path index records of their new
   * entries; then either the staging record, or (final) the upper tiles and the checkpoint.
   */
  private async writeStep(
    units: readonly Unit[],
    goal: SignedCheckpoint,
    tree: RemoteTree,
    fromSize: number,
    final: boolean,
  ): Promise<void> {
    const { store, db } = this.components;
    const ops: BatchOp[] = [];
    for (const u of units) {
      ops.push(store.tileOp({ tile: tree.tileAt(0, u.index), data: u.tile }));
      ops.push(store.bundleOp(u.index, u.bundle));
    }
    const added = new Map<string, number[]>();
    for (const u of units)
      for (const [index, hashPart] of u.paths) {
        const list = added.get(hashPart);
        if (list === undefined) added.set(hashPart, [index]);
        else list.push(index);
      }
    if (added.size > 0) {
      // Indices at or past this step's first new entry cannot be from an earlier step: drop them, so a
      // record never lists an index twice or out of order, whatever was left behind.
      const firstNew = Math.max(fromSize, units[0]!.index * TILE_WIDTH);
      const hashParts = [...added.keys()];
      const keys = hashParts.map((h) => store.pathIndexKey(h));
      const records = await db.getMany(keys);
      hashParts.forEach((h, k) => {
        const old = records[k] === undefined ? [] : decodeIndexList(records[k]).filter((x) => x < firstNew);
        ops.push({ type: 'put', key: keys[k]!, value: encodeIndexList([...old, ...added.get(h)!]) });
      });
    }
    if (final) {
      for (const t of tree.tiles()) if (t.tile.level > 0) ops.push(store.tileOp(t));
      ops.push(store.checkpointOp(goal.note));
      ops.push({ type: 'del', key: this.stageKey() });
    } else {
      const staged = (units[units.length - 1]!.index + 1) * TILE_WIDTH;
      ops.push({ type: 'put', key: this.stageKey(), value: encodeSyncStage(staged, goal.note) });
    }
    await writeBatch(db, ops);
    if (final) store.advance(goal);
  }

  /** Checks a checkpoint no larger than the local tree against it (fork: LogForkError). */
  private async checkHeld(cp: SignedCheckpoint): Promise<void> {
    const { store } = this.components;
    if (hashesEqual(await store.rootAt(cp.size), cp.root)) return;
    throw await this.fork(cp, store.checkpoint()!, store);
  }

  /** The fork error for checkpoints `a` (smaller or equal) and `b`, with evidence from b's tree. */
  private async fork(a: SignedCheckpoint, b: SignedCheckpoint, bTree: HashReader): Promise<LogForkError> {
    const { store } = this.components;
    let evidence: Evidence | undefined;
    try {
      const ids = evidenceProofIds(a.size, b.size);
      const hashes = ids.length === 0 ? [] : await bTree.readHashes(ids);
      evidence = buildEvidence(
        store.key.vkey,
        a.note,
        b.note,
        evidenceProofFromHashes(a.size, b.size, hashes),
      );
    } catch (err) {
      log.error('log %s: fork found, but no evidence could be built: %s', store.logId, err);
    }
    log.error('log %s is forked: sizes %d and %d disagree', store.logId, a.size, b.size);
    return new LogForkError(store.logId, [a.note, b.note], evidence);
  }

  private stageKey(): Uint8Array {
    return syncStageKey(logPrefix(this.components.store.logId));
  }

  private async loadStage(): Promise<{ staged: number; checkpoint: SignedCheckpoint } | undefined> {
    const { store, db } = this.components;
    const value = await db.get(this.stageKey());
    if (value === undefined) return undefined;
    try {
      const { staged, note } = decodeSyncStage(value);
      return { staged, checkpoint: openCheckpoint(note, store.key.verifier) };
    } catch (cause) {
      throw new StoreCorruptError(`sync staging record of log ${store.logId} is damaged`, { cause });
    }
  }

  private result(fromSize: number, resumedFrom: number, bytes: number): SyncResult {
    const { store } = this.components;
    return {
      logId: store.logId,
      checkpoint: store.checkpoint(),
      fromSize,
      toSize: store.size,
      resumedFrom,
      bytes,
      failedSources: [...this.failed],
    };
  }
}
