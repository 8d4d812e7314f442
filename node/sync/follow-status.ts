/**
 * What the follower knows of each followed log (its working record) and the status view of it that
 * `trustix logs` and the JSON API show.
 */
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import type { FollowedLog } from '../store/followed-logs.ts';
import type { LogStore } from '../store/log-store.ts';
import type { SyncProgress } from './sync-report.ts';

/**
 * `searching`: no source has answered for the log yet (no checkpoint known, nothing stored): it is still
 * being looked for, not known to be empty. `paused`: the data directory's disk is below the low-disk
 * watermark (error ERR_DISK_LOW); the sync goes on by itself once space is freed.
 */
export type FollowState = 'ok' | 'searching' | 'syncing' | 'paused' | 'forked' | 'failed';

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
  /** Only while `searching`: why no source has answered yet, from the node's own state. */
  readonly search?: SearchReason;
}

/**
 * Why a followed log has no source yet (docs/CLI.md, `trustix logs`), first match wins:
 * `isolated`: no peer is connected, so nobody can be asked; `looking`: the first lookup is under way;
 * `no-provider`: the last lookup found no source (no DHT provider, no mirror); `unreachable`: it found
 * sources but none could be reached; `no-checkpoint`: some answered, without a checkpoint of the log.
 */
export interface SearchReason {
  readonly reason: 'isolated' | 'looking' | 'no-provider' | 'unreachable' | 'no-checkpoint';
  /** The reason in words, e.g. `no provider found yet (DHT searched 12 s ago; again in 40 s)`. */
  readonly message: string;
  /** When the last lookup ended (ms since the epoch); absent before the first one. */
  readonly searchedAt?: number;
  /** When the next lookup is due (ms since the epoch), if one is planned. */
  readonly nextSearchAt?: number;
  /** Sources the last lookup found (DHT providers, peers that served before, mirrors). */
  readonly sources?: number;
  /** Of those, how many could not be reached (refused, timed out, busy). */
  readonly unreachable?: number;
  /** Of those, how many answered with a checkpoint or data that did not verify. */
  readonly invalid?: number;
  /** Peers connected now, when the node knows. */
  readonly peers?: number;
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
  /** The random start delay of a sync that gossip brought (FollowerInit.syncJitterMs). */
  delay?: NodeJS.Timeout;
  /** Whether any source gave a valid checkpoint of the log (or its copy here holds entries). */
  heard: boolean;
  /** The next lookup of a log not heard of yet. */
  search?: NodeJS.Timeout;
  /** When that next lookup is due (ms since the epoch). */
  nextLookupAt?: number;
  /**
   * What the last lookup (refresh) found: sources, how many of them could not be reached, and how many
   * answered with something that did not verify.
   */
  lookup?: {
    readonly at: number;
    readonly sources: number;
    readonly unreachable: number;
    readonly invalid: number;
  };
  syncedAt?: number;
}

/** The status of a tracked log; `connectedPeers` (when known) lets a searching log say it is isolated. */
export function statusOf(
  t: Tracked,
  network: { readonly connectedPeers?: number | undefined } = {},
  now = Date.now(),
): FollowedLogStatus {
  const { followed: f } = t;
  const verifiedSize = t.store?.size ?? 0;
  const targetSize = Math.max(t.target?.size ?? 0, verifiedSize);
  // Behind its target and not failed: syncing, or about to (queued, or its copy still opening).
  const state: FollowState =
    t.state !== 'ok' ? t.state : targetSize > verifiedSize ? 'syncing' : t.heard ? 'ok' : 'searching';
  return {
    logId: f.logId,
    name: f.name,
    vkey: f.vkey,
    weight: f.weight,
    mode: 'full',
    state,
    size: targetSize,
    verifiedSize,
    targetSize,
    lag: targetSize - verifiedSize,
    sources: [...t.sources],
    ...(t.progress === undefined ? {} : { progress: t.progress }),
    ...(t.error === undefined ? {} : { error: errorInfo(t.error) }),
    ...(t.syncedAt === undefined ? {} : { syncedAt: t.syncedAt }),
    ...(state === 'searching' && { search: searchReason(t, network.connectedPeers, now) }),
  };
}

/** Why a searching log has no source yet (SearchReason). */
export function searchReason(t: Tracked, peers: number | undefined, now = Date.now()): SearchReason {
  const { lookup } = t;
  const next = t.search !== undefined && t.nextLookupAt !== undefined ? t.nextLookupAt : undefined;
  const ago = (at: number) => `${Math.max(0, Math.round((now - at) / 1000))} s ago`;
  const when =
    lookup === undefined
      ? ''
      : ` (searched ${ago(lookup.at)}${next === undefined ? '' : `; again in ${Math.max(0, Math.round((next - now) / 1000))} s`})`;
  const facts = {
    ...(lookup && {
      searchedAt: lookup.at,
      sources: lookup.sources,
      unreachable: lookup.unreachable,
      invalid: lookup.invalid,
    }),
    ...(next !== undefined && { nextSearchAt: next }),
    ...(peers !== undefined && { peers }),
  };
  if (peers === 0)
    return {
      reason: 'isolated',
      message: `isolated: no peers connected, so nobody can be asked for it (see trustix peers)${when}`,
      ...facts,
    };
  if (lookup === undefined)
    return { reason: 'looking', message: 'looking for providers (first search under way)', ...facts };
  if (lookup.sources === 0)
    return { reason: 'no-provider', message: `no provider found yet${when}`, ...facts };
  const found = `${lookup.sources} source${lookup.sources === 1 ? '' : 's'} found`;
  if (lookup.unreachable === lookup.sources)
    return { reason: 'unreachable', message: `${found} but unreachable${when}`, ...facts };
  const parts = [
    `${lookup.sources - lookup.unreachable - lookup.invalid} answered without a checkpoint of this log`,
    ...(lookup.invalid > 0 ? [`${lookup.invalid} with one that does not verify`] : []),
    ...(lookup.unreachable > 0 ? [`${lookup.unreachable} unreachable`] : []),
  ];
  return { reason: 'no-checkpoint', message: `${found}: ${parts.join(', ')}${when}`, ...facts };
}

function errorInfo(err: Error): { code: string; message: string } {
  const code = (err as { code?: unknown }).code;
  return { code: typeof code === 'string' ? code : err.name, message: err.message };
}
