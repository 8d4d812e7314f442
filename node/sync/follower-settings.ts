/**
 * What the follower (node/sync/follower.ts) is built from: the node's parts it calls (FollowerComponents)
 * and its settings with their defaults (FollowerInit, followerSettings). Apart from the follower's workings
 * because those who set them (the node's assembly, node/assembly/network-follower.ts, from the config's `sync`
 * section; the tests) need none of those.
 */
import type { Database } from '../store/database.ts';
import type { FollowedLogs } from '../store/followed-logs.ts';
import { MIN_FREE_BYTES } from './disk-watermark.ts';
import type { LogSyncInit } from './log-sync-settings.ts';
import type { VerifiedBundle } from './sync-stage.ts';
import type { TileSource } from './tile-source.ts';

export interface FollowerComponents {
  readonly db: Database;
  readonly followed: FollowedLogs;
  /** Sources for a log: its providers, with `hint` (the source that told us of a checkpoint) first. */
  sourcesFor(logId: string, hint?: string): Promise<readonly TileSource[]> | readonly TileSource[];
  /**
   * The sources of `peers` (PeerId strings a busy source named as the log's holders, unchecked), leaving
   * out what is no PeerId, ourselves and peers banned for the log. Default: none (no peer exchange).
   */
  sourcesOf?(logId: string, peers: readonly string[]): readonly TileSource[];
  /** Whether the log is known to be forked (the checkpoint monitor's verdict). Default: never. */
  isForked?(logId: string): boolean;
  /** Told of what each sync stores, step by step (LogSyncComponents.stored). */
  stored?(logId: string, bundles: readonly VerifiedBundle[]): Promise<void>;
  /**
   * Peers connected now, for saying why a log has no source yet (`isolated`). Default: unknown (the
   * reason then never says isolated).
   */
  connectedPeers?(): number;
  /**
   * Where refresh hands the checkpoint it found, for a log whose checkpoints must pass a gate first (a
   * witness quorum, node/monitor/quorum-gate.ts): true when it took it (it calls notify once the
   * checkpoint may be the log's newest). Default: never; refresh notifies directly.
   */
  offer?(logId: string, note: Uint8Array, from: string): boolean;
  /**
   * A random number in [0, 1): the start delay of syncs (FollowerInit.syncJitterMs) and the order a sync
   * is given its sources in (node/sync/sync-attempt.ts). Default Math.random.
   */
  random?(): number;
  /** The data directory, whose file system's free space the low-disk watermark is checked on. */
  readonly dataDir?: string;
}

export interface FollowerInit extends LogSyncInit {
  /** Logs synced at once. Default 2. */
  readonly maxConcurrentSyncs?: number;
  /**
   * Low-disk watermark: bytes that must stay free on the data directory's file system (statfs) for a
   * sync to write; below it syncs pause. Default 1 GiB; 0: never pause. Needs components.dataDir.
   */
  readonly minFreeBytes?: number;
  /** How often a paused log checks the free space again, in ms. Default 30,000. */
  readonly diskCheckMs?: number;
  /**
   * Time slice of a sync, in ms: past it, a sync yields its slot when another log waits (its verified
   * steps stay staged; it resumes from them when its turn comes again). Default 60,000.
   */
  readonly sliceMs?: number;
  /**
   * A log this many entries or fewer behind its target may sync in one extra slot when all are taken
   * (a small catch-up never waits behind big syncs). Default 4,096 (one step); 0: no extra slot.
   */
  readonly smallSyncEntries?: number;
  /**
   * Longest random start delay of a sync that gossip brought (notify with a sender), in ms: drawn
   * uniformly from 0 to this, for a log at most smallSyncEntries behind, a first sync of a small log
   * too (never for a sync far behind, refresh, or a checkpoint handed over without a sender). Followers
   * told of a checkpoint within the propagation time then start one after another and the later ones
   * fetch from the earlier ones, which works only when the delays spread wider than a sync lasts (1-2 s
   * for a few thousand entries on a loaded machine). A new log's first checkpoint is such a moment: at
   * N = 50 every follower asked its builder at once, and some gave up on it, overloaded (docs/SCALE.md).
   * Default 3,000: in the swarm bench (docs/SCALE.md,
   * "Sync start delay") 1,000 left the builder's share of the tile bytes at 84-92%, 3,000 brought it
   * from 80-93% to 42-61%, for at most 3 s more before a follower holds a checkpoint; 0: none.
   */
  readonly syncJitterMs?: number;
  /** First retry after a failed sync, in ms; doubles per failure. Default 5,000. */
  readonly retryDelayMs?: number;
  /** Longest retry delay, in ms. Default 600,000. */
  readonly maxRetryDelayMs?: number;
  /** Time for a source to give its checkpoint (refresh), in ms. Default 10,000. */
  readonly checkpointTimeoutMs?: number;
  /**
   * Ask the sources for the checkpoint of a newly followed log (and of one not heard of since a restart),
   * again after retryDelayMs, doubling, until one answers. Default true.
   */
  readonly refreshOnFollow?: boolean;
  /** Longest wait between two lookups of a log no source has answered for, in ms. Default 60,000. */
  readonly maxSearchDelayMs?: number;
  /**
   * Log IDs never opened or synced here, even when followed: the node's own log, which its sequencer
   * writes (a second writer on the same keys would corrupt it). Default none.
   */
  readonly exclude?: readonly string[];
}

/** FollowerInit with every default filled in (the follower's own settings; LogSyncInit's stay optional). */
export type FollowerSettings = FollowerInit & Required<Omit<FollowerInit, keyof LogSyncInit>>;

/** `init` with the defaults of what it leaves out. */
export function followerSettings(init: FollowerInit): FollowerSettings {
  return {
    maxConcurrentSyncs: 2,
    minFreeBytes: MIN_FREE_BYTES,
    diskCheckMs: 30_000,
    sliceMs: 60_000,
    smallSyncEntries: 4_096,
    syncJitterMs: 3_000,
    retryDelayMs: 5_000,
    maxRetryDelayMs: 600_000,
    checkpointTimeoutMs: 10_000,
    refreshOnFollow: true,
    maxSearchDelayMs: 60_000,
    exclude: [],
    ...init,
  };
}
