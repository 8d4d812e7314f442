/**
 * What a sync of a followed log (node/sync/log-sync.ts) is given and its settings with their defaults
 * (LogSyncComponents, LogSyncInit, logSyncSettings). Apart from the sync's workings because those who set
 * them (the follower's settings, node/sync/follower-settings.ts; the config's defaults, cli/; the tests)
 * need none of those.
 */
import type { Database } from '../store/database.ts';
import type { LogStore } from '../store/log-store.ts';
import { LOG_QUOTA_DEFAULTS, type LogQuotaInit } from './log-quota.ts';
import { SOURCE_POOL_DEFAULTS, type SourcePoolInit } from './source-pool-init.ts';
import type { VerifiedBundle } from './sync-stage.ts';
import type { TileSource } from './tile-source.ts';

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

/** `init` with the defaults of what it leaves out; RangeError when its windows cannot hold a step. */
export function logSyncSettings(init: LogSyncInit): Required<LogSyncInit> {
  const settings: Required<LogSyncInit> = {
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
  if (settings.windowBundles < settings.stepBundles || settings.stepBundles < 1)
    throw new RangeError('windowBundles must be at least stepBundles, which must be positive');
  return settings;
}
