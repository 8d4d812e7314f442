/**
 * What the light logs (node/network/light-logs.ts) are given and their settings with their defaults:
 * apart from the light logs so that their checks (node/network/light-log-checks.ts) read the same
 * components and settings without importing them, and those who set them (the node's network side) need
 * none of their workings.
 */
import type { CheckpointMonitor } from '../monitor/checkpoint-monitor.ts';
import type { FollowedLogs } from '../store/followed-logs.ts';
import type { SourcePoolInit } from '../sync/source-pool-init.ts';
import type { SourceFailedEvent, TileSource } from '../sync/tile-source.ts';
import type { LookupClient } from './lookup-client.ts';

export interface LightLogsComponents {
  readonly followed: FollowedLogs;
  readonly monitor: CheckpointMonitor;
  readonly lookups: LookupClient;
  /** Tile sources of a log (node/network/peer-sources.ts), `hint` first. */
  sourcesFor(logId: string, hint?: string): Promise<readonly TileSource[]>;
  /** Told of a source that failed (the node bans those that sent bad bytes). */
  onSourceFailed(event: SourceFailedEvent): void;
}

export interface LightLogsInit {
  /** Time for one consistency check (tiles fetched and checked), in ms. Default 60,000. */
  readonly checkTimeoutMs?: number;
  /** Time for sources to give their checkpoints when a log is followed, in ms. Default 10,000. */
  readonly checkpointTimeoutMs?: number;
  /** First retry of a failed check or search, in ms; doubles up to maxRetryDelayMs. Defaults 2,000 and 60,000. */
  readonly retryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
  /** The tile requests of a check. Default SourcePool's. */
  readonly pool?: SourcePoolInit;
}

/** A LightLogsInit with none left out (the pool's own defaults are SourcePool's). */
export type LightLogsSettings = Required<Omit<LightLogsInit, 'pool'>> & { pool: SourcePoolInit };

/** `init` with the defaults of what it leaves out. */
export function lightLogsSettings(init: LightLogsInit): LightLogsSettings {
  return {
    checkTimeoutMs: 60_000,
    checkpointTimeoutMs: 10_000,
    retryDelayMs: 2_000,
    maxRetryDelayMs: 60_000,
    pool: {},
    ...init,
  };
}
