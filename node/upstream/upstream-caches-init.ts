/**
 * What the upstream caches (node/upstream/upstream-caches.ts) are given: their settings with the
 * defaults. Apart from them so that the NAR transfers (node/upstream/upstream-nar.ts) read the same
 * settings without importing the caches, and those who set them (the node's user side) need none of
 * their workings.
 */

export interface UpstreamCachesInit {
  /** The store directory served; upstreams for another one are skipped. Default '/nix/store'. */
  readonly storeDir?: string;
  /** Time for one upstream to answer a narinfo request (retries included). Default 5,000 ms. */
  readonly narinfoTimeoutMs?: number;
  /** Retries of a transient narinfo failure. Default 1. */
  readonly retries?: number;
  /** How long a found narinfo is reused. Default 10 minutes. */
  readonly positiveTtlMs?: number;
  /** How long an absent or failed one is remembered. Default 30 s (a cache may gain it soon). */
  readonly negativeTtlMs?: number;
  /** Bytes of narinfos kept in memory. Default 32 MiB. */
  readonly maxCachedBytes?: number;
  /** Time until an upstream starts answering a NAR request. Default 10 s. */
  readonly narConnectTimeoutMs?: number;
  /** Longest pause in a NAR transfer before it is cut. Default 60 s. */
  readonly narIdleTimeoutMs?: number;
  /** Time for a whole NAR transfer. Default 1 hour. */
  readonly narDeadlineMs?: number;
  /** Least bytes per second an upstream must send, over each window of narRateWindowMs. Default 16 KiB/s. */
  readonly narMinBytesPerSecond?: number;
  /** Default 20 s. */
  readonly narRateWindowMs?: number;
  /**
   * Bytes of each NAR transfer held back until the file is checked; a file no larger is checked whole
   * before Nix gets a byte. Default 1 MiB.
   */
  readonly narHoldBackBytes?: number;
  /** How long an upstream whose NAR failed its checks is skipped for that path. Default 10 minutes. */
  readonly badTtlMs?: number;
}

/** An UpstreamCachesInit with none left out. */
export type UpstreamCachesSettings = Required<UpstreamCachesInit>;

/** `init` with the defaults of what it leaves out. */
export function upstreamCachesSettings(init: UpstreamCachesInit): UpstreamCachesSettings {
  return {
    storeDir: '/nix/store',
    narinfoTimeoutMs: 5_000,
    retries: 1,
    positiveTtlMs: 600_000,
    negativeTtlMs: 30_000,
    maxCachedBytes: 32 * 1024 * 1024,
    narConnectTimeoutMs: 10_000,
    narIdleTimeoutMs: 60_000,
    narDeadlineMs: 3_600_000,
    narMinBytesPerSecond: 16 * 1024,
    narRateWindowMs: 20_000,
    narHoldBackBytes: 1024 * 1024,
    badTtlMs: 600_000,
    ...init,
  };
}
