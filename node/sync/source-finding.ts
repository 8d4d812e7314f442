/**
 * How a sync under way finds more sources (node/sync/source-pool.ts): `discover` (the follower's source
 * finder: the log's providers, with peers that caught up since) every `discoverMs` while tiles remain,
 * and the holders of a source that said busy (`<logID>/holders`, protocol/log-holders.ts: the peers a
 * builder served its log to lately, and those it referred to them), asked once a sync per source and
 * turned into sources by `refer`. A source that named holders becomes a referrer: it is asked only for
 * what none of the others has nor is about to have (node/sync/source-slots.ts). Each ask has the sync's
 * request deadline; while one is under way, a fetch with no eligible source waits for it (`looking`).
 */
import { logger } from '@libp2p/logger';
import { withDeadline } from './source-request.ts';
import type { SourceState } from './source-slots.ts';
import type { TileSource } from './tile-source.ts';

const log = logger('trustix:sync');

/** Where a sync under way finds more sources (both optional). */
export interface SourceFinder {
  /** More sources of the log, asked every `discoverMs` while tiles remain. */
  discover?(): Promise<readonly TileSource[]> | readonly TileSource[];
  /** The sources of peers a busy source named (PeerId strings, unchecked): those it can reach and may use. */
  refer?(peers: readonly string[]): readonly TileSource[];
}

export interface SourceFindingInit {
  readonly discoverMs: number;
  readonly requestTimeoutMs: number;
}

/** What SourceFinding needs of its pool. */
export interface FindingPool {
  /** Adds a source found (one already present, or beyond the pool's cap, is ignored). */
  add(source: TileSource): void;
  /** Wakes requests waiting for a source. */
  wake(): void;
}

export class SourceFinding {
  /** Asks under way in the background. */
  looking = 0;
  private readonly logId: string;
  private readonly init: SourceFindingInit;
  private readonly finder: SourceFinder;
  private readonly signal: AbortSignal;
  private readonly pool: FindingPool;
  private discoveredAt = Date.now();

  constructor(
    logId: string,
    init: SourceFindingInit,
    finder: SourceFinder,
    signal: AbortSignal,
    pool: FindingPool,
  ) {
    this.logId = logId;
    this.init = init;
    this.finder = finder;
    this.signal = signal;
    this.pool = pool;
  }

  /** Asks `discover` for new sources in the background, if it is due (one discovery at a time). */
  discover(): void {
    const { discover } = this.finder;
    const { discoverMs } = this.init;
    if (discover === undefined || discoverMs <= 0 || Date.now() - this.discoveredAt < discoverMs) return;
    this.discoveredAt = Number.POSITIVE_INFINITY;
    this.background(
      Promise.resolve().then(() => discover.call(this.finder)),
      (sources) => {
        for (const source of sources) this.pool.add(source);
      },
      'finding more sources',
    ).finally(() => {
      this.discoveredAt = Date.now();
    });
  }

  /**
   * Asks a source that said busy, once a sync, whom it served the log to lately, and adds those peers as
   * sources (peer exchange: they hold what it would have sent, or are verifying it).
   */
  askHolders(state: SourceState): void {
    const { source } = state;
    const { refer } = this.finder;
    const { holders } = source;
    if (refer === undefined || holders === undefined || state.holdersAsked) return;
    state.holdersAsked = true;
    const options = { timeoutMs: this.init.requestTimeoutMs, signal: this.signal };
    this.background(
      withDeadline(source, options, (signal) => holders.call(source, this.logId, { signal })),
      (peers) => {
        const referred = refer.call(this.finder, peers ?? []);
        for (const s of referred) this.pool.add(s);
        // It sent us elsewhere: ask it again only for what none of those (nor the others) may serve.
        if (referred.length > 0) state.referrer = true;
      },
      `asking ${source.id} for the holders`,
    );
  }

  /** Runs `ask` counted in `looking`, hands its answer to `take`, and wakes the pool when done. */
  private background<T>(ask: Promise<T>, take: (answer: T) => void, what: string): Promise<void> {
    this.looking++;
    return ask
      .then(take, (err: unknown) => log('%s of %s failed: %s', what, this.logId, err))
      .finally(() => {
        this.looking--;
        this.pool.wake();
      });
  }
}
