/**
 * What the follower knows of each followed log (its working record) and the status view of it that
 * `trustix logs` and the JSON API show.
 */
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import type { FollowedLog } from '../store/followed-logs.ts';
import type { LogStore } from '../store/log-store.ts';
import type { SyncProgress } from './log-sync.ts';

/**
 * `searching`: no source has answered for the log yet (no checkpoint known, nothing stored): it is still
 * being looked for, not known to be empty.
 */
export type FollowState = 'ok' | 'searching' | 'syncing' | 'forked' | 'failed';

export interface FollowedLogStatus {
  readonly logId: string;
  readonly name: string;
  readonly vkey: string;
  readonly weight: number;
  /** 'full': a verified copy is kept here; 'light': lookups with proofs (node/network/light-logs.ts). */
  readonly mode: 'full' | 'light';
  readonly state: FollowState;
  /** The largest signed size known (what the log has, as far as we know). */
  readonly size: number;
  /** The size stored and verified here. */
  readonly verifiedSize: number;
  /** The size the current (or next) sync aims at. */
  readonly targetSize: number;
  readonly lag: number;
  /** Sources of the current or last sync. */
  readonly sources: readonly string[];
  readonly progress?: SyncProgress;
  readonly error?: { readonly code: string; readonly message: string };
  /** When the last sync completed (ms since the epoch). */
  readonly syncedAt?: number;
}

/** The follower's record of one followed log. */
export interface Tracked {
  followed: FollowedLog;
  store?: LogStore;
  target?: SignedCheckpoint;
  hint?: string;
  state: FollowState;
  queued: boolean;
  running?: Promise<void>;
  abort?: AbortController;
  sources: string[];
  progress?: SyncProgress;
  error?: Error;
  stopped: boolean;
  failures: number;
  retry?: NodeJS.Timeout;
  /** Whether any source gave a valid checkpoint of the log (or its copy here holds entries). */
  heard: boolean;
  /** The next lookup of a log not heard of yet. */
  search?: NodeJS.Timeout;
  syncedAt?: number;
}

/** The status of a tracked log. */
export function statusOf(t: Tracked): FollowedLogStatus {
  const { followed: f } = t;
  const verifiedSize = t.store?.size ?? 0;
  const targetSize = Math.max(t.target?.size ?? 0, verifiedSize);
  return {
    logId: f.logId,
    name: f.name,
    vkey: f.vkey,
    weight: f.weight,
    mode: 'full',
    // Behind its target and not failed: syncing, or about to (queued, or its copy still opening).
    state: t.state !== 'ok' ? t.state : targetSize > verifiedSize ? 'syncing' : t.heard ? 'ok' : 'searching',
    size: targetSize,
    verifiedSize,
    targetSize,
    lag: targetSize - verifiedSize,
    sources: [...t.sources],
    ...(t.progress === undefined ? {} : { progress: t.progress }),
    ...(t.error === undefined ? {} : { error: errorInfo(t.error) }),
    ...(t.syncedAt === undefined ? {} : { syncedAt: t.syncedAt }),
  };
}

function errorInfo(err: Error): { code: string; message: string } {
  const code = (err as { code?: unknown }).code;
  return { code: typeof code === 'string' ? code : err.name, message: err.message };
}
