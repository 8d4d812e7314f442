/**
 * What a sync's source pool (node/sync/source-pool.ts) is set with (SourcePoolInit) and the defaults of
 * what it leaves out (SOURCE_POOL_DEFAULTS). Apart from the pool's workings because those who set them
 * (a sync's settings, node/sync/log-sync-settings.ts; the light logs', node/network/light-logs-init.ts)
 * need none of those.
 */
export interface SourcePoolInit {
  /**
   * Time for one request to a source (a few tiles), in ms, from its turn: from when it was sent or the
   * source last answered a request sent before it, whichever is later (node/sync/request-turns.ts). A
   * request queued behind others, on a session or a slow link, waits for them on their time, not its
   * own. Default 15,000.
   */
  readonly requestTimeoutMs?: number;
  /**
   * Requests in flight to one source while the sync has other sources that hold the log or may. Default
   * 4: a sync spreads over them, and a builder does not take every bundle while followers that sync the
   * same checkpoint are about to have it (the swarm effect, docs/SCALE.md; 16 here took the builder's
   * share in the swarm bench from ~40-60% to 80-93%).
   */
  readonly spreadConcurrency?: number;
  /**
   * Most requests in flight to a source that is the sync's only one. Default 48: a request costs a round
   * trip, so over a 40 ms link 4 in flight held a 100k sync from one source to 2,700 entries/s (16:
   * 6,400; docs/SCALE.md, "Long links, then"); on a tile exchange session, which costs nothing per
   * request, 16 gave 14,700 and 48 about 20,000 (docs/SCALE.md, "Sessions"). How many of them it gets
   * follows its delivery rate (`pipelineMs`), from 16.
   */
  readonly perSourceConcurrency?: number;
  /**
   * A lone source gets as many requests in flight as it delivers in this time, in ms (from 16 to
   * perSourceConcurrency, and perSourceConcurrency until its rate is known; node/sync/delivery-rate.ts).
   * Default 4,000: deep enough for a long fast link's round trips to overlap; on a slow link, no more
   * tiles tied to the source than it sends in that time (a faster source found meanwhile takes the rest).
   */
  readonly pipelineMs?: number;
  /** Requests in flight in all. Default 48. */
  readonly maxConcurrency?: number;
  /**
   * Busy pauses in a row (no answer served between them) after which a source is dropped at its next
   * busy answer. Default 30: with the pauses below about 29 s, well beyond a server's rotation of its
   * upload slots (10 s by default).
   */
  readonly busyRetries?: number;
  /**
   * Requests of one source that may time out before it is dropped for it. Default 1: a libp2p stream
   * now and then never completes (seen on loopback with several requests in flight), and one stalled
   * stream should not cost a sync its only source.
   */
  readonly timeoutRetries?: number;
  /** First pause after a busy answer, in ms; doubles each time. Default 250. */
  readonly busyBackoffMs?: number;
  /** Longest pause after a busy answer, in ms. Default 1,000 (UploadSlotsInit.waitMs counts on it). */
  readonly busyMaxPauseMs?: number;
  /**
   * Minimum throughput of a source, in bytes per second, judged on answers that took longer than
   * `minRateGraceMs`: a slower source is demoted while others are left. Default 16,384; 0: never.
   */
  readonly minBytesPerSecond?: number;
  /** Answers quicker than this are never judged slow, in ms. Default 5,000. */
  readonly minRateGraceMs?: number;
  /**
   * Least time between two asks of one source for its checkpoint, in ms, while tiles remain that its
   * tree is too small for: a peer that catches up during the sync then serves too. Default 1,000 (3,000
   * left a follower told busy by the builder, node/network/upload-slots.ts, waiting seconds for peers that
   * had long caught up); 0: never.
   */
  readonly recheckMs?: number;
  /**
   * Least time between two asks of a source that is syncing the log too (it gave its progress,
   * node/sync/source-claims.ts), in ms, while tiles remain beyond what it verified. Default 500; 0: never.
   */
  readonly progressRecheckMs?: number;
  /**
   * A source that named its holders (a builder past its fan-out) is asked for tiles none of the others
   * has only once no source syncing towards them has grown its progress for this long, in ms. Default
   * 3,000: the referred follower waits for the peers passing the tiles on, not for the builder's patience.
   */
  readonly progressStallMs?: number;
  /** Least time between two calls of the pool's `discover` (new sources), in ms. Default 10,000; 0: never. */
  readonly discoverMs?: number;
  /** Most sources in the pool; those `discover` finds beyond are left out. Default 32. */
  readonly maxSources?: number;
}

/** The defaults of SourcePoolInit (documented there). */
export const SOURCE_POOL_DEFAULTS: Required<SourcePoolInit> = {
  requestTimeoutMs: 15_000,
  spreadConcurrency: 4,
  perSourceConcurrency: 48,
  pipelineMs: 4_000,
  maxConcurrency: 48,
  busyRetries: 30,
  timeoutRetries: 1,
  busyBackoffMs: 250,
  busyMaxPauseMs: 1_000,
  minBytesPerSecond: 16_384,
  minRateGraceMs: 5_000,
  recheckMs: 1_000,
  progressRecheckMs: 500,
  progressStallMs: 3_000,
  discoverMs: 10_000,
  maxSources: 32,
};
