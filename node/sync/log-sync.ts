/**
 * One verified sync of a followed log: brings the local copy (a LogStore, possibly empty) up to a newer
 * signed checkpoint with tiles and entry bundles from untrusted sources (node/sync/source-pool.ts).
 *
 *  1. The new tree's edge is checked against the signed root, then its upper levels (tiles of level >= 1
 *     that differ from the local tree) each against the tile above (node/sync/remote-tree.ts).
 *  2. Consistency: the new tree's root at the local size must equal the local checkpoint's root. If not,
 *     the log key signed two histories: LogForkError with both notes and the evidence; nothing is stored.
 *  3. Level-0 tiles and entry bundles are fetched in parallel over the sources, each tile checked against
 *     its verified parent, each bundle strictly decoded and its entries' leaf hashes equal to the tile's.
 *     Each entry must then be a valid fingerprint (protocol/entry.ts); one that is not is the log's own
 *     fault (it is signed), so the sync fails with InvalidLogEntryError and no source is blamed.
 *  4. Storage in steps of `stepBundles` bundles (or `stepBytes`), each one atomic synced batch, staged
 *     beyond the checkpoint until the last batch commits it (node/sync/sync-stage.ts).
 *
 * One run per log at a time (the follower sees to it): runs share the staging record and the path index.
 * Interrupted syncs resume: the staged bundles are not fetched again, only the upper tiles (1/256 of the
 * hash tiles). A target inconsistent with the staged one is a fork like any other.
 * Memory (counted: SyncResult.memory): the upper tiles (about n / 8 bytes for n new leaves, n at most
 * `maxGrowth`, checked with `maxTreeSize` before anything is planned: LogLimitError), at most
 * `windowBundles` verified bundles and about `windowBytes` bytes of them awaiting their step or in flight
 * (node/sync/bundle-pipeline.ts), each owning its bytes, and the requests in flight (each capped at
 * maxTileBytes). Disk: the per-log quotas (node/sync/log-quota.ts), checked entry by entry and step by step.
 */

import { TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { openCheckpoint, type SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { TILE_WIDTH } from '../../protocol/constants.ts';
import { VerificationError } from '../../protocol/errors.ts';
import {
  buildEvidence,
  type Evidence,
  evidenceProofFromHashes,
  evidenceProofIds,
} from '../../protocol/evidence.ts';
import { EMPTY_ROOT, type HashReader, hashesEqual, treeHash } from '../../protocol/merkle.ts';
import { newTiles } from '../../protocol/tiles.ts';
import { LogForkError, LogLimitError } from '../errors.ts';
import type { Database } from '../store/database.ts';
import type { LogStore } from '../store/log-store.ts';
import { checkBundle } from './bundle-check.ts';
import { type PipelineMemory, runBundlePipeline } from './bundle-pipeline.ts';
import { LOG_QUOTA_DEFAULTS, LogBytes, type LogQuotaInit } from './log-quota.ts';
import { RemoteTree } from './remote-tree.ts';
import { SOURCE_POOL_DEFAULTS, SourcePool, type SourcePoolInit } from './source-pool.ts';
import { SyncStage, type VerifiedBundle } from './sync-stage.ts';
import type { SourceFailedEvent, TileSource } from './tile-source.ts';
import { VerifiedTiles } from './verified-tiles.ts';

const log = logger('trustix:sync');

export interface LogSyncComponents {
  readonly db: Database;
  /** The local copy of the log (LogStore.open on the node's database). */
  readonly store: LogStore;
  readonly sources: readonly TileSource[];
  /** More sources, found while the sync runs (SourcePoolInit.discoverMs): peers that caught up since. */
  discover?(): Promise<readonly TileSource[]> | readonly TileSource[];
  /** The sources of peers a busy source named as the log's holders (node/sync/source-pool.ts). */
  refer?(peers: readonly string[]): readonly TileSource[];
  /**
   * Told of each step (and the final commit) once it is stored, in order, while its verified bytes are
   * still in memory, so that the reproducibility statistics index them without reading them back.
   * Awaited: it paces the sync. Its failures are logged, never the sync's.
   */
  stored?(logId: string, bundles: readonly VerifiedBundle[]): Promise<void>;
  /** Called before each step is written; throws (e.g. DiskSpaceError) to stop the sync there. */
  checkSpace?(): Promise<void>;
}

export interface LogSyncInit extends SourcePoolInit, LogQuotaInit {
  /**
   * Entry bundles per stored step. Default 16 (4,096 entries): smaller synced batches than 32 cost
   * less CPU and memory here (1M entries from one provider: 49-51k instead of 40k entries/s; a
   * follower of 3x100k at rest 308-347 instead of 395 MB), for twice the syncs.
   */
  readonly stepBundles?: number;
  /** Bundle bytes after which a step is stored early. Default 16 MiB. */
  readonly stepBytes?: number;
  /**
   * Verified bundles held before their step is stored, fetches in flight included (bounds memory).
   * Default 96 (twice SourcePoolInit.maxConcurrency: the fetches in flight, and as many waiting for the
   * bundle that completes their step); >= stepBundles.
   */
  readonly windowBundles?: number;
  /**
   * Bytes of verified bundles held before their step is stored, and of fetches in flight (bounds memory
   * whatever the entries' size: 96 bundles of 64 KiB entries would be 1.5 GiB). Default 64 MiB.
   */
  readonly windowBytes?: number;
  /** Store directory of the log's entries. Default '/nix/store'. */
  readonly storeDir?: string;
  /**
   * Largest tree size synced (a log beyond it fails with LogLimitError). Default 2^32 entries: far
   * beyond any builder's log, far below what a signed checkpoint may claim (2^53 - 1).
   */
  readonly maxTreeSize?: number;
  /**
   * Most new entries one sync takes in (checkpoint size minus the local size). Memory of a sync grows
   * with it (the upper tiles, n / 8 bytes for n new leaves). Default 2^26 (67,108,864 entries, 8 MiB).
   */
  readonly maxGrowth?: number;
}

/** LogSyncInit.windowBytes by default. */
export const SYNC_WINDOW_BYTES = 64 * 1024 * 1024;

/** LogSyncInit's limits, by default (docs/CLI.md, "sync"). */
export const LOG_LIMIT_DEFAULTS = { maxTreeSize: 2 ** 32, maxGrowth: 2 ** 26 } as const;

/** Counts in entries beyond the local copy (and what an interrupted sync staged); `bytes` as received. */
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
  /** Bytes of verified bundles waiting for their step (at most about windowBytes). */
  readonly heldBytes: number;
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
  /**
   * The most the sync held at once (0 when it fetched nothing): verified bundles awaiting their step
   * (at most `windowBundles`, with the bytes they keep alive), and the verified upper tiles and edge.
   */
  readonly memory: SyncMemory;
}

/** What a sync held at its peak (docs/ARCHITECTURE.md, "Memory"). */
export interface SyncMemory extends PipelineMemory {
  /** Bytes of the verified tiles of levels >= 1 and of the edge: about n / 8 for n new leaves. */
  readonly treeBytes: number;
}

const NO_MEMORY: SyncMemory = { peakBundles: 0, peakBytes: 0, treeBytes: 0 };

export interface LogSyncEvents {
  progress: CustomEvent<SyncProgress>;
  'source-failed': CustomEvent<SourceFailedEvent>;
}

export class LogSync extends TypedEventEmitter<LogSyncEvents> {
  private readonly components: LogSyncComponents;
  private readonly init: Required<LogSyncInit>;
  private readonly stage: SyncStage;
  private pool: SourcePool | undefined;
  private readonly failed: string[] = [];
  private readonly extra: TileSource[] = [];

  constructor(components: LogSyncComponents, init: LogSyncInit = {}) {
    super();
    this.components = components;
    this.init = {
      ...SOURCE_POOL_DEFAULTS,
      stepBundles: 16,
      stepBytes: 16 * 1024 * 1024,
      windowBundles: 96,
      windowBytes: SYNC_WINDOW_BYTES,
      storeDir: '/nix/store',
      ...LOG_LIMIT_DEFAULTS,
      ...LOG_QUOTA_DEFAULTS,
      ...init,
    };
    if (this.init.windowBundles < this.init.stepBundles || this.init.stepBundles < 1)
      throw new RangeError('windowBundles must be at least stepBundles, which must be positive');
    this.stage = new SyncStage(components.db, components.store);
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
   * rejects with LogForkError, SyncFailedError (no honest source left), InvalidLogEntryError, or the
   * abort reason. On failure the committed copy is unchanged.
   */
  async run(
    target: Uint8Array | SignedCheckpoint,
    options: { signal?: AbortSignal } = {},
  ): Promise<SyncResult> {
    const { store } = this.components;
    const asked = openCheckpoint(target instanceof Uint8Array ? target : target.note, store.key.verifier);
    if (asked.size === 0 && !hashesEqual(asked.root, EMPTY_ROOT))
      throw new VerificationError('checkpoint', 'size 0 with a root other than the empty tree');
    const local = store.checkpoint();
    const fromSize = store.size;
    const staged = await this.stage.load();

    // Sync to the larger of the target and a staged target; the other must be consistent with it.
    let goal = asked;
    let other = staged?.checkpoint;
    if (other !== undefined && other.size > goal.size) [goal, other] = [other, goal];
    if (other !== undefined && Buffer.from(other.note).equals(goal.note)) other = undefined;

    this.checkLimits(goal.size, fromSize);
    if (goal.size <= fromSize) {
      for (const cp of [goal, other]) if (cp !== undefined) await this.checkHeld(cp);
      if (staged !== undefined) await this.stage.discard();
      return this.result(fromSize, 0, 0);
    }
    const quota = await LogBytes.load(this.components.db, store.logId, this.init.maxLogBytes);
    quota.check();

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
      store.key.verifier,
      this.components,
    );
    this.pool = pool;
    try {
      const tree = new RemoteTree(goal.size, goal.root, pool);
      // Upper levels first: every level-0 tile is then checked against a verified parent.
      await tree.ensure(newTiles(fromSize, goal.size, 1));
      if (local !== undefined && fromSize > 0 && !hashesEqual(await treeHash(fromSize, tree), local.root))
        throw await this.fork(local, goal, tree);
      if (other !== undefined) {
        if (other.size <= fromSize) await this.checkHeld(other);
        else if (!hashesEqual(await treeHash(other.size, tree), other.root))
          throw await this.fork(other, goal, tree);
      }
      const resumed =
        staged === undefined ? fromSize : Math.max(fromSize, Math.min(staged.staged, goal.size));
      // The goal extends what we hold: from now on, what the sync verifies is served (docs/PROTOCOL.md).
      const shelf = new VerifiedTiles(store, goal, resumed, await this.previousTiles(goal, tree));
      store.syncing = shelf;
      const held = await this.fetchAndStore(
        goal,
        tree,
        pool,
        shelf,
        { fromSize, resumed },
        controller,
        quota,
      );
      const memory = { ...held, treeBytes: tree.bytes() };
      log('log %s synced %d -> %d (%d bytes)', store.logId, fromSize, goal.size, pool.bytes);
      return this.result(fromSize, resumed, pool.bytes, memory);
    } finally {
      controller.abort();
      // Unfinished: what it verified stays served (peers were told of it) until a sync takes it over.
      if (store.syncing !== undefined && store.syncing.target.size <= store.size) store.syncing = undefined;
    }
  }

  /**
   * The tiles an earlier, unfinished sync of the log verified, when its target is consistent with the
   * tree of `goal` (then its full tiles are the goal's too); undefined otherwise.
   */
  private async previousTiles(goal: SignedCheckpoint, tree: RemoteTree): Promise<VerifiedTiles | undefined> {
    const previous = this.components.store.syncing;
    if (!(previous instanceof VerifiedTiles) || previous.target.size > goal.size) return undefined;
    if (previous.target.size <= this.components.store.size) return undefined;
    if (Buffer.from(previous.target.note).equals(goal.note)) return previous;
    const root = await treeHash(previous.target.size, tree);
    return hashesEqual(root, previous.target.root) ? previous : undefined;
  }

  /** Steps 3 and 4: bundles fetched and verified in parallel, stored in order, a step at a time. */
  private async fetchAndStore(
    goal: SignedCheckpoint,
    tree: RemoteTree,
    pool: SourcePool,
    shelf: VerifiedTiles,
    { fromSize, resumed }: { fromSize: number; resumed: number },
    controller: AbortController,
    quota: LogBytes,
  ): Promise<PipelineMemory> {
    const n = goal.size;
    const start = Math.max(fromSize, resumed);
    const counts = { verified: 0, stored: 0 };
    const leavesOf = (i: number) => Math.min(n, (i + 1) * TILE_WIDTH) - Math.max(start, i * TILE_WIDTH);
    const upper = () => tree.tiles().filter((t) => t.tile.level > 0);
    return runBundlePipeline({
      first: Math.floor(start / TILE_WIDTH),
      end: Math.ceil(n / TILE_WIDTH),
      lastFull: Math.floor(n / TILE_WIDTH),
      concurrency: this.init.maxConcurrency,
      stepBundles: this.init.stepBundles,
      stepBytes: this.init.stepBytes,
      windowBundles: this.init.windowBundles,
      windowBytes: this.init.windowBytes,
      controller,
      fetch: async (i) => {
        const bundle = await this.fetchBundle(i, tree, pool, fromSize);
        shelf.add(bundle);
        return bundle;
      },
      step: async (bundles) => {
        await this.components.checkSpace?.();
        const bytes = quota.take(newBytes(bundles));
        await this.stage.step(bundles, goal, [bytes.op]);
        shelf.stored(bundles);
        bytes.took();
        await this.told(bundles);
      },
      commit: async (bundles) => {
        await this.components.checkSpace?.();
        const bytes = quota.take(newBytes(bundles));
        await this.stage.commit(bundles, upper(), goal, [bytes.op]);
        bytes.took();
        await this.told(bundles);
      },
      onProgress: (bundles, stored, heldBytes) => {
        for (const b of bundles) counts[stored ? 'stored' : 'verified'] += leavesOf(b.index);
        const detail: SyncProgress = {
          logId: this.components.store.logId,
          fromSize,
          targetSize: n,
          resumedFrom: resumed,
          ...counts,
          total: n - start,
          bytes: pool.bytes,
          heldBytes,
        };
        this.dispatchEvent(new CustomEvent('progress', { detail }));
      },
    });
  }

  private async told(bundles: readonly VerifiedBundle[]): Promise<void> {
    const { store, stored } = this.components;
    if (stored === undefined || bundles.length === 0) return;
    try {
      await stored(store.logId, bundles);
    } catch (err) {
      log.error('log %s: a stored step was not taken in: %s', store.logId, err);
    }
  }

  /** Fetches bundle `i` from one source and verifies it (node/sync/bundle-check.ts). */
  private fetchBundle(
    i: number,
    tree: RemoteTree,
    pool: SourcePool,
    fromSize: number,
  ): Promise<VerifiedBundle> {
    const tile = tree.tileAt(0, i);
    const bundleId = { kind: 'entries', index: i, width: tile.width } as const;
    const check = { logId: this.components.store.logId, fromSize, quota: this.init };
    return pool.fetch([bundleId], ([bundle]) => checkBundle(bundle!, tile, tree, check));
  }

  /** Throws LogLimitError when syncing to `size` from `fromSize` is beyond the limits: before any plan. */
  checkLimits(size: number, fromSize: number): void {
    const { logId } = this.components.store;
    const { maxTreeSize, maxGrowth } = this.init;
    if (size > maxTreeSize)
      throw new LogLimitError(logId, 'maxTreeSize', `a checkpoint of size ${size} exceeds ${maxTreeSize}`);
    if (size - fromSize > maxGrowth)
      throw new LogLimitError(
        logId,
        'maxGrowth',
        `a checkpoint of size ${size} grows the local ${fromSize} by more than ${maxGrowth}`,
      );
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
      const proof = evidenceProofFromHashes(a.size, b.size, hashes);
      evidence = buildEvidence(store.key.vkey, a.note, b.note, proof);
    } catch (err) {
      log.error('log %s: fork found, but no evidence could be built: %s', store.logId, err);
    }
    log.error('log %s is forked: sizes %d and %d disagree', store.logId, a.size, b.size);
    return new LogForkError(store.logId, [a.note, b.note], evidence);
  }

  private result(fromSize: number, resumedFrom: number, bytes: number, memory = NO_MEMORY): SyncResult {
    const { store } = this.components;
    return {
      logId: store.logId,
      checkpoint: store.checkpoint(),
      fromSize,
      toSize: store.size,
      resumedFrom,
      bytes,
      failedSources: [...this.failed],
      memory,
    };
  }
}

/** Bytes the bundles add to their log (VerifiedBundle.newBytes). */
function newBytes(bundles: readonly VerifiedBundle[]): number {
  let n = 0;
  for (const b of bundles) n += b.newBytes;
  return n;
}
