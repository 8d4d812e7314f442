/**
 * One verified sync of a followed log: brings the local copy (a LogStore, possibly empty) up to a newer
 * signed checkpoint with tiles and entry bundles from untrusted sources (node/sync/source-pool.ts).
 *
 *  1. The new tree's edge is checked against the signed root, then its upper levels (tiles of level >= 1
 *     that differ from the local tree) each against the tile above (node/sync/remote-tree.ts).
 *  2. Consistency: the new tree's root at the local size must equal the local checkpoint's root. If not,
 *     the log key signed two histories: LogForkError with both notes and the evidence; nothing is stored
 *     (node/sync/fork-check.ts).
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
 * Its components and settings: node/sync/log-sync-settings.ts; what it reports: node/sync/sync-report.ts.
 */

import { TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { openCheckpoint, type SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { TILE_WIDTH } from '../../protocol/constants.ts';
import { VerificationError } from '../../protocol/errors.ts';
import { EMPTY_ROOT, hashesEqual, treeHash } from '../../protocol/merkle.ts';
import { newTiles } from '../../protocol/tiles.ts';
import { LogLimitError } from '../errors.ts';
import { checkBundle } from './bundle-check.ts';
import { type PipelineMemory, runBundlePipeline } from './bundle-pipeline.ts';
import { checkHeld, forkError } from './fork-check.ts';
import { LogBytes } from './log-quota.ts';
import { type LogSyncComponents, type LogSyncInit, logSyncSettings } from './log-sync-settings.ts';
import { RemoteTree } from './remote-tree.ts';
import { SourcePool } from './source-pool.ts';
import { NO_MEMORY, type SyncProgress, type SyncResult } from './sync-report.ts';
import { SyncStage, type VerifiedBundle } from './sync-stage.ts';
import type { SourceFailedEvent, TileSource } from './tile-source.ts';
import { VerifiedTiles } from './verified-tiles.ts';

export type { LogSyncComponents, LogSyncInit } from './log-sync-settings.ts';
export type { SyncMemory, SyncProgress, SyncResult } from './sync-report.ts';

const log = logger('trustix:sync');

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
    this.init = logSyncSettings(init);
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
      for (const cp of [goal, other]) if (cp !== undefined) await checkHeld(store, cp);
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
        throw await forkError(store, local, goal, tree);
      if (other !== undefined) {
        if (other.size <= fromSize) await checkHeld(store, other);
        else if (!hashesEqual(await treeHash(other.size, tree), other.root))
          throw await forkError(store, other, goal, tree);
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
