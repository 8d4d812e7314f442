/**
 * The sources one sync fetches a log's tiles from, and the rules that keep a sync bounded and honest:
 *
 * - each request goes to the eligible source with the fewest requests in flight (requests spread over
 *   sources), at most `perSourceConcurrency` per source and `maxConcurrency` in all;
 * - every request has a time limit, enforced here even if a source ignores its abort signal;
 * - a source that fails (timeout, unreachable, oversized or malformed bodies, bytes that do not verify)
 *   is dropped for the rest of the sync and reported through `onFailed`, so the node can penalise it;
 *   a busy source is paused and retried `busyRetries` times before it is dropped, and one whose
 *   requests time out is asked again `timeoutRetries` times;
 * - each source is first asked for its own checkpoint (once per sync, verified with the log key) and then
 *   asked only for tiles of a tree that size. A source that says "not found" for a full tile its earlier
 *   checkpoint has is withholding: a fault (trees only grow and full tiles never change, so an honest
 *   source cannot do that; sybils answering "not found" to everything cannot eclipse a log,
 *   docs/SECURITY.md). Any other "not found" is not a fault: the source holds a smaller tree, and is
 *   asked only for tiles such a tree has (none, when it has no checkpoint).
 * - a source whose answer took longer than `minRateGraceMs` at fewer than `minBytesPerSecond` bytes a
 *   second is slow: its (verified) answer is used, and it is demoted, dropped for the rest of the sync
 *   ('slow', no ban), as long as another source is left; a lone slow source is kept (the follower's
 *   time slices keep it from holding a slot for ever). Quick small answers are never judged, so small
 *   catch-ups keep every source.
 * So every tile costs at most one attempt per source plus the busy retries, and with no source left the
 * fetch fails with SyncFailedError.
 */
import { setMaxListeners } from 'node:events';
import { logger } from '@libp2p/logger';
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import { TILE_WIDTH } from '../../protocol/constants.ts';
import { MalformedError, VerificationError } from '../../protocol/errors.ts';
import type { TileId } from '../../protocol/tile-path.ts';
import type { NoteVerifier } from '../../protocol/vkey.ts';
import { type SourceFailure, SyncFailedError, TileSourceError } from '../errors.ts';
import { maxTileBytes, type SourceFailedEvent, type TileSource } from './tile-source.ts';

const log = logger('trustix:sync');

export interface SourcePoolInit {
  /** Time for one request to a source (a few tiles), in ms. Default 15,000. */
  readonly requestTimeoutMs?: number;
  /** Requests in flight to one source. Default 4. */
  readonly perSourceConcurrency?: number;
  /** Requests in flight in all. Default 16. */
  readonly maxConcurrency?: number;
  /** Times a busy source is paused and asked again before it is dropped. Default 3. */
  readonly busyRetries?: number;
  /**
   * Requests of one source that may time out before it is dropped for it. Default 1: a libp2p stream
   * now and then never completes (seen on loopback with several requests in flight), and one stalled
   * stream should not cost a sync its only source.
   */
  readonly timeoutRetries?: number;
  /** First pause after a busy answer, in ms; doubles each time. Default 250. */
  readonly busyBackoffMs?: number;
  /**
   * Minimum throughput of a source, in bytes per second, judged on answers that took longer than
   * `minRateGraceMs`: a slower source is demoted while others are left. Default 16,384; 0: never.
   */
  readonly minBytesPerSecond?: number;
  /** Answers quicker than this are never judged slow, in ms. Default 5,000. */
  readonly minRateGraceMs?: number;
}

interface SourceState {
  readonly source: TileSource;
  inFlight: number;
  dropped: boolean;
  strikes: number;
  timeouts: number;
  pausedUntil: number;
  /** Largest tree size the source may hold (it lacked a tile of a larger one). */
  maxSize: number;
  lastUsed: number;
  /** The size of the source's own signed checkpoint: undefined until asked, null for none. */
  claimed?: number | null;
  /** Largest tree size the source has served a full tile of: proof that it can serve up to there. */
  served: number;
}

/** The tree size a source must hold to have `tile` at its width. */
export function sizeNeeded(tile: TileId): number {
  const level = tile.kind === 'hash' ? tile.level : 0;
  return (tile.index * TILE_WIDTH + tile.width) * TILE_WIDTH ** level;
}

/** Whether a tree of `size` has `tile` at its width (a partial tile only while it is the edge). */
export function treeHasTile(tile: TileId, size: number): boolean {
  const level = tile.kind === 'hash' ? tile.level : 0;
  const items = Math.floor(size / TILE_WIDTH ** level);
  const end = tile.index * TILE_WIDTH + tile.width;
  return tile.width === TILE_WIDTH ? items >= end : items === end;
}

/** The defaults of SourcePoolInit (documented there). */
export const SOURCE_POOL_DEFAULTS: Required<SourcePoolInit> = {
  requestTimeoutMs: 15_000,
  perSourceConcurrency: 4,
  maxConcurrency: 16,
  busyRetries: 3,
  timeoutRetries: 1,
  busyBackoffMs: 250,
  minBytesPerSecond: 16_384,
  minRateGraceMs: 5_000,
};

export class SourcePool {
  readonly logId: string;
  private readonly init: Required<SourcePoolInit>;
  private readonly states: SourceState[] = [];
  private readonly onFailed: (event: SourceFailedEvent) => void;
  private readonly signal: AbortSignal;
  private total = 0;
  private uses = 0;
  private readonly waiters = new Set<() => void>();
  private readonly verifier: NoteVerifier | undefined;
  /** Bytes received from sources, verified or not. */
  bytes = 0;

  /** `verifier`: the log key, to check a source's checkpoint when it says "not found". */
  constructor(
    logId: string,
    sources: readonly TileSource[],
    init: SourcePoolInit,
    onFailed: (event: SourceFailedEvent) => void,
    signal: AbortSignal,
    verifier?: NoteVerifier,
  ) {
    this.logId = logId;
    this.verifier = verifier;
    this.init = { ...SOURCE_POOL_DEFAULTS, ...init };
    this.onFailed = onFailed;
    this.signal = signal;
    // Every waiting fetch and every request listens for the sync's end: far more than the default 10.
    setMaxListeners(0, signal);
    for (const s of sources) this.add(s);
  }

  /** Adds a source (a provider found meanwhile); one already present is ignored. */
  add(source: TileSource): void {
    if (this.states.some((s) => s.source.id === source.id)) return;
    this.states.push({
      source,
      inFlight: 0,
      dropped: false,
      served: 0,
      timeouts: 0,
      strikes: 0,
      pausedUntil: 0,
      maxSize: Number.POSITIVE_INFINITY,
      lastUsed: 0,
    });
    this.wake();
  }

  /** Ids of the sources not dropped. */
  active(): string[] {
    return this.states.filter((s) => !s.dropped).map((s) => s.source.id);
  }

  /**
   * Fetches `tiles` (all from one source) and hands the bodies to `accept`, which verifies them and
   * returns the result. A source whose bodies `accept` refuses (MalformedError, VerificationError) is
   * dropped and the next one asked.
   */
  async fetch<T>(
    tiles: readonly TileId[],
    accept: (bodies: Uint8Array[], sourceId: string) => T,
  ): Promise<T> {
    const needs = Math.max(...tiles.map(sizeNeeded));
    for (;;) {
      const state = await this.acquire(needs, tiles);
      if (state.claimed === undefined && this.verifier !== undefined) {
        try {
          await this.askCheckpoint(state, this.verifier);
        } catch (err) {
          this.release(state);
          throw err;
        }
        if (state.dropped || state.maxSize < needs) {
          this.release(state);
          continue;
        }
      }
      let bodies: (Uint8Array | undefined)[];
      const started = Date.now();
      try {
        bodies = await this.request(state, tiles);
      } catch (err) {
        this.release(state);
        if (this.signal.aborted) throw this.signal.reason;
        this.fail(state, err);
        continue;
      }
      this.release(state);
      if (bodies.some((b) => b === undefined)) {
        const { claimed } = state;
        const withheld = tiles.find(
          (tile, i) =>
            bodies[i] === undefined &&
            tile.width === TILE_WIDTH &&
            typeof claimed === 'number' &&
            treeHasTile(tile, claimed),
        );
        if (withheld !== undefined) {
          const error = new TileSourceError(
            state.source.id,
            'withheld',
            `"not found" for tile ${sizeNeeded(withheld)} of a tree of size ${claimed} it signs for`,
          );
          this.drop(state, 'withheld', error);
          continue;
        }
        // Not a fault: the source holds a smaller tree. Ask it only for what such a tree has.
        state.maxSize = Math.min(state.maxSize, needs - 1, claimed === null ? 0 : Number.POSITIVE_INFINITY);
        continue;
      }
      let result: T;
      try {
        result = accept(bodies as Uint8Array[], state.source.id);
      } catch (err) {
        if (!(err instanceof MalformedError || err instanceof VerificationError)) throw err;
        this.drop(state, err instanceof VerificationError ? 'invalid' : 'malformed', err);
        continue;
      }
      state.served = Math.max(state.served, needs);
      this.judgeRate(state, needs, bodies as Uint8Array[], Date.now() - started);
      return result;
    }
  }

  private async acquire(needs: number, tiles: readonly TileId[]): Promise<SourceState> {
    for (;;) {
      this.signal.throwIfAborted();
      const eligible = this.states.filter((s) => !s.dropped && s.maxSize >= needs);
      if (eligible.length === 0) throw this.exhausted(tiles);
      const now = Date.now();
      let best: SourceState | undefined;
      if (this.total < this.init.maxConcurrency) {
        for (const s of eligible) {
          if (s.inFlight >= this.init.perSourceConcurrency || s.pausedUntil > now) continue;
          if (
            best === undefined ||
            s.inFlight < best.inFlight ||
            (s.inFlight === best.inFlight && s.lastUsed < best.lastUsed)
          )
            best = s;
        }
      }
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

  private release(state: SourceState): void {
    state.inFlight--;
    this.total--;
    this.wake();
  }

  private wake(): void {
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  /** Resolves on the next release or added source, after `ms` if given, or when the sync is aborted. */
  private wait(ms: number | undefined): Promise<void> {
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

  /** One request with its time limit; checks the answer's shape and caps (never trusting the source). */
  private async request(state: SourceState, tiles: readonly TileId[]): Promise<(Uint8Array | undefined)[]> {
    const { source } = state;
    const ms = this.init.requestTimeoutMs;
    const controller = new AbortController();
    const onAbort = () => controller.abort(this.signal.reason);
    this.signal.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new TileSourceError(source.id, 'timeout', `no answer within ${ms} ms`);
        controller.abort(err);
        reject(err);
      }, ms);
    });
    try {
      const bodies = await Promise.race([
        source.tiles(this.logId, tiles, { signal: controller.signal }),
        expired,
      ]);
      if (!Array.isArray(bodies) || bodies.length !== tiles.length)
        throw new TileSourceError(
          source.id,
          'malformed',
          `asked for ${tiles.length} tiles, got ${bodies?.length}`,
        );
      bodies.forEach((body, i) => {
        if (body === undefined) return;
        if (!(body instanceof Uint8Array))
          throw new TileSourceError(source.id, 'malformed', 'a tile body is not bytes');
        this.bytes += body.length;
        if (body.length > maxTileBytes(tiles[i]!))
          throw new TileSourceError(
            source.id,
            'oversized',
            `${body.length} bytes for a tile of width ${tiles[i]!.width}`,
          );
      });
      return bodies;
    } finally {
      clearTimeout(timer);
      this.signal.removeEventListener('abort', onAbort);
      expired.catch(() => {});
    }
  }

  /**
   * Asks the source for its own checkpoint of the log (within the request timeout) and bounds what it is
   * asked for by its size. None, or a failure to answer, is no claim (null) and no blame; a checkpoint
   * that does not verify drops the source.
   */
  private async askCheckpoint(state: SourceState, verifier: NoteVerifier): Promise<void> {
    state.claimed = null;
    let note: Uint8Array | undefined;
    try {
      note = await state.source.checkpoint(this.logId, {
        signal: AbortSignal.any([this.signal, AbortSignal.timeout(this.init.requestTimeoutMs)]),
      });
    } catch (err) {
      this.signal.throwIfAborted();
      log('source %s gave no checkpoint of %s: %s', state.source.id, this.logId, err);
      return;
    }
    if (note === undefined) return;
    try {
      state.claimed = openCheckpoint(note, verifier).size;
      state.maxSize = Math.min(state.maxSize, state.claimed);
    } catch (err) {
      if (!(err instanceof MalformedError || err instanceof VerificationError)) throw err;
      this.drop(state, err instanceof VerificationError ? 'invalid' : 'malformed', err);
    }
  }

  /**
   * Demotes a source whose answer was below the minimum throughput, unless no other source is known to
   * hold these tiles: one that signed a checkpoint covering them or served tiles as deep. A source that
   * has not answered yet, or answered "not found", is no alternative: dropping the only source that has
   * the tiles would fail the sync of a log served only slowly (a relayed builder on a loaded machine).
   */
  private judgeRate(state: SourceState, needs: number, bodies: readonly Uint8Array[], ms: number): void {
    const { minBytesPerSecond, minRateGraceMs } = this.init;
    if (minBytesPerSecond <= 0 || ms <= minRateGraceMs || state.dropped) return;
    let bytes = 0;
    for (const b of bodies) bytes += b.length;
    const rate = (bytes * 1000) / ms;
    if (rate >= minBytesPerSecond) return;
    const alternative = (s: SourceState) =>
      s !== state &&
      !s.dropped &&
      s.maxSize >= needs &&
      ((typeof s.claimed === 'number' && s.claimed >= needs) || s.served >= needs);
    if (!this.states.some(alternative)) return;
    const error = new TileSourceError(
      state.source.id,
      'slow',
      `${bytes} bytes in ${ms} ms (${Math.round(rate)} bytes/s), below ${minBytesPerSecond}`,
    );
    this.drop(state, 'slow', error);
  }

  private fail(state: SourceState, err: unknown): void {
    const error =
      err instanceof TileSourceError
        ? err
        : new TileSourceError(
            state.source.id,
            err instanceof MalformedError ? 'malformed' : 'unavailable',
            err instanceof Error ? err.message : String(err),
            { cause: err },
          );
    if (error.reason === 'busy' && state.strikes < this.init.busyRetries) {
      state.pausedUntil = Date.now() + this.init.busyBackoffMs * 2 ** state.strikes;
      state.strikes++;
      log('source %s is busy for log %s; pausing it', state.source.id, this.logId);
      return;
    }
    if (error.reason === 'timeout' && state.timeouts < this.init.timeoutRetries) {
      state.timeouts++;
      log('a request to source %s for log %s timed out; asking again', state.source.id, this.logId);
      return;
    }
    this.drop(state, error.reason, error);
  }

  private drop(state: SourceState, reason: SourceFailure, error: Error): void {
    if (state.dropped) return;
    state.dropped = true;
    log.error('dropped source %s for log %s (%s): %s', state.source.id, this.logId, reason, error.message);
    this.onFailed({ logId: this.logId, sourceId: state.source.id, reason, error });
    this.wake();
  }

  private exhausted(tiles: readonly TileId[]): SyncFailedError {
    const dropped = this.states.filter((s) => s.dropped).length;
    const behind = this.states.length - dropped;
    const what = tiles
      .map((t) => (t.kind === 'hash' ? `${t.level}/${t.index}` : `entries/${t.index}`))
      .join(', ');
    const message =
      this.states.length === 0
        ? 'no sources'
        : `no source left for tile ${what} (${dropped} dropped for failures, ${behind} do not have it)`;
    return new SyncFailedError(this.logId, message);
  }
}
