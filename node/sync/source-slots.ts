/**
 * The slots of a sync's source pool (node/sync/source-pool.ts): its sources and their state, and which
 * source the next request goes to: of the eligible ones (its tree or its sync under way covers the tile,
 * not dropped, not paused), the one holding the least beyond the tile (peers still syncing before the
 * builder), then with the fewest requests in flight, least recently used first; at most `spreadConcurrency`
 * per source while the pool has another source that holds the log or may (requests spread over them, and
 * a builder's requests wait rather than take every bundle while its followers' syncs catch up), up to
 * `perSourceConcurrency` for a source alone (over a long link it needs a deep pipeline: as many as it
 * delivers in `pipelineMs`, at least 16, all of them until its rate is known, node/sync/delivery-rate.ts), and
 * `maxConcurrency` in all. A source that named its holders when busy (a builder past its fan-out) is
 * asked only for tiles no other source has, nor is about to have (`eligible`). A request waits for a
 * slot; with no eligible source it fails with SyncFailedError, unless the pool is still looking for one
 * (a checkpoint asked again, a discovery).
 */
import type { TileId } from '../../protocol/tile-path.ts';
import { type SourceFailure, SyncFailedError } from '../errors.ts';
import { DeliveryRate } from './delivery-rate.ts';
import { RequestTurns } from './request-turns.ts';
import { growing, type ProgressClaim, progressHasTile } from './tile-coverage.ts';
import type { TileSource } from './tile-source.ts';

/** One source of a sync and what the pool has learnt of it. */
export interface SourceState {
  readonly source: TileSource;
  inFlight: number;
  /** How fast it delivers: how deep its pipeline may be when it is the sync's only source. */
  readonly delivery: DeliveryRate;
  /** Its requests in flight, each timed from its turn. */
  readonly turns: RequestTurns;
  /** Why it was dropped, once it was (named in the error of a sync left with no source). */
  dropped?: { readonly reason: SourceFailure; readonly message: string };
  /** Busy pauses in a row (SourcePoolInit.busyRetries). */
  strikes: number;
  timeouts: number;
  /** What caused its latest failure: a failure of its session fails many requests at once, counted once. */
  lastCause?: unknown;
  /** When the source's latest busy pause began, and until when it lasts (ms). */
  pausedAt: number;
  pausedUntil: number;
  /** Largest tree size the source may hold (it lacked a tile of a larger one). */
  maxSize: number;
  lastUsed: number;
  /** The size of the source's own signed checkpoint: undefined until asked, null for none. */
  claimed?: number | null;
  /** When its checkpoint was last asked for (ms), and whether a second ask is under way. */
  checkedAt: number;
  checking: boolean;
  /** Largest tree size the source has served a full tile of: proof that it can serve up to there. */
  served: number;
  /** What the source said of its own sync under way, when it has one, and when that last grew (ms). */
  progress?: ProgressClaim;
  grewAt: number;
  /** Whether it has already taken back a progress claim it could not serve (forgiven once a sync). */
  retracted: boolean;
  /** Whether it has been asked whom it served the log to (once a sync, after a busy answer). */
  holdersAsked: boolean;
  /** Whether it named holders: it is then asked only for what no other source may serve. */
  referrer: boolean;
}

/** Whether the source may be asked for `tiles` (needing a tree of `needs`): its tree or its sync has them. */
export function mayServe(s: SourceState, needs: number, tiles: readonly TileId[]): boolean {
  return !s.dropped && (s.maxSize >= needs || tiles.every((t) => progressHasTile(t, s.progress)));
}

/**
 * How much the source holds beyond `tiles`, as the size it claims for them: the least is asked first, so
 * that peers still syncing (or just synced) serve before the log's builder, which always holds the most.
 * A source not asked yet comes first (asking is how its claim is learnt); one without a checkpoint last.
 */
function extent(s: SourceState, tiles: readonly TileId[]): number {
  if (s.claimed === undefined) return 0;
  if (s.progress !== undefined && tiles.every((t) => progressHasTile(t, s.progress)))
    return s.progress.verified;
  return s.claimed ?? Number.MAX_SAFE_INTEGER;
}

/** The source to ask first of those with fewer than `cap` requests in flight and not paused, if any. */
function pick(
  eligible: readonly SourceState[],
  tiles: readonly TileId[],
  now: number,
  cap: (s: SourceState) => number,
): SourceState | undefined {
  let best: SourceState | undefined;
  let bestExtent = 0;
  for (const s of eligible) {
    if (s.inFlight >= cap(s) || s.pausedUntil > now) continue;
    const e = extent(s, tiles);
    if (
      best === undefined ||
      e < bestExtent ||
      (e === bestExtent &&
        (s.inFlight < best.inFlight || (s.inFlight === best.inFlight && s.lastUsed < best.lastUsed)))
    ) {
      best = s;
      bestExtent = e;
    }
  }
  return best;
}

export interface SourceSlotsInit {
  /** A source syncing towards the tiles whose progress grew within this (ms) is waited for (`eligible`). */
  readonly progressStallMs: number;
  /** How often such a source is asked for its progress again (node/sync/source-claims.ts), in ms. */
  readonly progressRecheckMs: number;
  readonly spreadConcurrency: number;
  readonly perSourceConcurrency: number;
  /** A lone source gets the requests it delivers in this time (node/sync/delivery-rate.ts), in ms. */
  readonly pipelineMs: number;
  readonly maxConcurrency: number;
  readonly maxSources: number;
}

/** Requests in flight to a lone source at least: what a lone source got before sessions (docs/SCALE.md). */
const LONE_DEPTH = 16;

export class SourceSlots {
  readonly states: SourceState[] = [];
  private readonly logId: string;
  private readonly init: SourceSlotsInit;
  private readonly signal: AbortSignal;
  private total = 0;
  private uses = 0;
  private readonly waiters = new Set<() => void>();

  constructor(logId: string, init: SourceSlotsInit, signal: AbortSignal) {
    this.logId = logId;
    this.init = init;
    this.signal = signal;
  }

  /** Adds a source (a provider found meanwhile); one already present, or one beyond `maxSources`, is ignored. */
  add(source: TileSource): void {
    if (this.states.some((s) => s.source.id === source.id) || this.states.length >= this.init.maxSources)
      return;
    this.states.push({
      source,
      inFlight: 0,
      delivery: new DeliveryRate(),
      turns: new RequestTurns(),
      timeouts: 0,
      strikes: 0,
      pausedAt: 0,
      pausedUntil: 0,
      maxSize: Number.POSITIVE_INFINITY,
      lastUsed: 0,
      checkedAt: 0,
      checking: false,
      served: 0,
      retracted: false,
      holdersAsked: false,
      referrer: false,
      grewAt: 0,
    });
    this.wake();
  }

  /** Ids of the sources not dropped. */
  active(): string[] {
    return this.states.filter((s) => !s.dropped).map((s) => s.source.id);
  }

  /**
   * A slot on an eligible source for a request needing a tree of `needs`. `look` runs before each try and
   * says whether the pool is still looking for sources (then an empty choice waits instead of failing).
   */
  async acquire(needs: number, tiles: readonly TileId[], look: () => boolean): Promise<SourceState> {
    for (;;) {
      this.signal.throwIfAborted();
      const looking = look();
      const eligible = this.eligible(needs, tiles);
      if (eligible === 'wait') {
        // Back to `look`, which asks the sources passing the tiles on for their progress when due.
        await this.wait(this.init.progressRecheckMs);
        continue;
      }
      if (eligible.length === 0) {
        if (!looking) throw this.exhausted(tiles);
        await this.wait(undefined);
        continue;
      }
      const now = Date.now();
      const { spreadConcurrency, perSourceConcurrency, maxConcurrency, pipelineMs } = this.init;
      // Other sources that hold the log or may (not dropped, not known to lack it): then spread.
      const alone = this.states.filter((s) => !s.dropped && s.claimed !== null).length <= 1;
      const spread = Math.min(spreadConcurrency, perSourceConcurrency);
      const least = Math.min(LONE_DEPTH, perSourceConcurrency);
      const cap = alone
        ? (s: SourceState) => s.delivery.depth(least, perSourceConcurrency, pipelineMs)
        : () => spread;
      const best = this.total >= maxConcurrency ? undefined : pick(eligible, tiles, now, cap);
      if (best !== undefined) {
        best.inFlight++;
        best.lastUsed = ++this.uses;
        this.total++;
        return best;
      }
      const paused = eligible.filter((s) => s.pausedUntil > now).map((s) => s.pausedUntil - now);
      await this.wait(paused.length > 0 ? Math.min(...paused) : undefined);
    }
  }

  /**
   * The sources that may serve `tiles` (needing a tree of `needs`). A source that sent us to others (it
   * named its holders) only when none of the others may, nor is about to: 'wait' while one syncing
   * towards them has grown its progress in the last `progressStallMs`, or ended it after growing (it
   * committed: its checkpoint will say so when asked); a stalled one is not waited for.
   */
  private eligible(needs: number, tiles: readonly TileId[]): SourceState[] | 'wait' {
    const covering = this.states.filter((s) => mayServe(s, needs, tiles));
    const others = covering.filter((s) => !s.referrer);
    if (others.length > 0 || covering.length === 0) return others;
    const now = Date.now();
    const coming = this.states.some(
      (s) =>
        !s.dropped &&
        !s.referrer &&
        (s.progress === undefined || growing(s.progress, needs, tiles)) &&
        now - s.grewAt < this.init.progressStallMs,
    );
    return coming ? 'wait' : covering;
  }

  release(state: SourceState): void {
    state.inFlight--;
    this.total--;
    this.wake();
  }

  wake(): void {
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  /** Resolves on the next release or added source, after `ms` if given, or when the sync is aborted. */
  wait(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.signal.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }

  private exhausted(tiles: readonly TileId[]): SyncFailedError {
    const dropped = this.states.filter((s) => s.dropped);
    const behind = this.states.length - dropped.length;
    // Each kind of failure once, with the first one's words (a dial refused, a stream reset, ...).
    const why = new Map<SourceFailure, string>();
    for (const { dropped: d } of dropped)
      if (d !== undefined && !why.has(d.reason)) why.set(d.reason, d.message.slice(0, 160));
    const said = [...why].map(([reason, message]) => `${reason}: ${message}`).join('; ');
    const what = tiles
      .map((t) => (t.kind === 'hash' ? `${t.level}/${t.index}` : `entries/${t.index}`))
      .join(', ');
    const message =
      this.states.length === 0
        ? 'no sources'
        : `no source left for tile ${what} (${dropped.length} dropped for failures${said === '' ? '' : ` (${said})`}, ${behind} do not have it)`;
    return new SyncFailedError(this.logId, message);
  }
}
