/**
 * The sources one sync fetches a log's tiles from, and the rules that keep a sync bounded and honest:
 *
 * - each request goes to an eligible source as node/sync/source-slots.ts chooses (spread over sources,
 *   up to `perSourceConcurrency` on a source that is the only one) and `maxConcurrency` in all;
 * - every request has a time limit, enforced here even if a source ignores its abort signal;
 * - a source that fails (timeout, unreachable, oversized or malformed bodies, bytes that do not verify)
 *   is dropped for the rest of the sync and reported through `onFailed`, so the node can penalise it;
 *   a busy source (one serving other peers: node/network/upload-slots.ts) is paused and asked again,
 *   dropped only after `busyRetries` pauses in a row with no answer served between them (the busy
 *   answers to requests sent before a pause began add none), and one whose requests time out is asked
 *   again `timeoutRetries` times;
 * - each source is first asked for its own checkpoint and the progress of its own sync under way (both
 *   verified with the log key, node/sync/source-claims.ts) and then asked only for tiles of a tree that
 *   size or that its sync verified. While tiles remain that a source does not cover, it is asked again
 *   (every `progressRecheckMs` when it syncs too, else `recheckMs`), so that a peer that catches up
 *   meanwhile takes its share of the load; `discover` (the follower's source finder) is asked for new
 *   sources every `discoverMs`, and a source that says busy is asked once a sync whom it served the log
 *   to lately (its holders, protocol/log-holders.ts), who join as sources through `refer`: up to
 *   `maxSources` in all (docs/ARCHITECTURE.md, "Sync"). Of the sources
 *   that cover a tile, the one holding the least beyond it is asked first (node/sync/source-slots.ts):
 *   peers still syncing before the builder. A source that says "not found" for a full tile its earlier
 *   checkpoint has, or for a tile its sync said it verified and still says so when asked again at once
 *   (a node that restarted mid-sync lost what it held in memory and claims less: forgiven once a sync),
 *   is withholding: a fault (trees only grow,
 *   full tiles never change, and a sync keeps what it verified, so an honest source cannot do that;
 *   sybils answering "not found" to everything cannot eclipse a log, docs/SECURITY.md). Any other "not
 *   found" is not a fault: the source holds a smaller tree, and is asked only for tiles such a tree has
 *   (none, when it has no checkpoint).
 * - a source whose answer took longer than `minRateGraceMs` at fewer than `minBytesPerSecond` bytes a
 *   second is slow: its (verified) answer is used, and it is demoted, dropped for the rest of the sync
 *   ('slow', no ban), as long as another source is left; a lone slow source is kept (the follower's
 *   time slices keep it from holding a slot for ever). Quick small answers are never judged, so small
 *   catch-ups keep every source.
 * So every tile costs at most one attempt per source plus the busy retries, and with no source left the
 * fetch fails with SyncFailedError. One exchange with a source is node/sync/source-request.ts; which tree
 * sizes cover a tile, node/sync/tile-coverage.ts; how a failed request is judged (pause, ask again or
 * drop), node/sync/request-failure.ts; the pool's settings and their defaults, node/sync/source-pool-init.ts.
 */
import { setMaxListeners } from 'node:events';
import { logger } from '@libp2p/logger';
import { TILE_WIDTH } from '../../protocol/constants.ts';
import { MalformedError, VerificationError } from '../../protocol/errors.ts';
import type { TileId } from '../../protocol/tile-path.ts';
import type { NoteVerifier } from '../../protocol/vkey.ts';
import { type SourceFailure, TileSourceError } from '../errors.ts';
import { type FailurePool, judgeFailure } from './request-failure.ts';
import type { Turn } from './request-turns.ts';
import { SourceClaims } from './source-claims.ts';
import { type SourceFinder, SourceFinding } from './source-finding.ts';
import { SOURCE_POOL_DEFAULTS, type SourcePoolInit } from './source-pool-init.ts';
import { requestTiles } from './source-request.ts';
import { mayServe, SourceSlots, type SourceState } from './source-slots.ts';
import { slowness } from './source-speed.ts';
import { progressHasTile, sizeNeeded, treeHasTile } from './tile-coverage.ts';
import type { SourceFailedEvent, TileSource } from './tile-source.ts';

const log = logger('trustix:sync');

export class SourcePool {
  readonly logId: string;
  private readonly init: Required<SourcePoolInit>;
  private readonly slots: SourceSlots;
  private readonly onFailed: (event: SourceFailedEvent) => void;
  private readonly signal: AbortSignal;
  private readonly claims: SourceClaims | undefined;
  private readonly finding: SourceFinding;
  private readonly failures: FailurePool;
  /** Bytes received from sources, verified or not. */
  bytes = 0;

  /**
   * `verifier`: the log key, to check a source's checkpoint (without it, sources are never asked for
   * one). `finder`: more sources of the log, while the sync runs.
   */
  constructor(
    logId: string,
    sources: readonly TileSource[],
    init: SourcePoolInit,
    onFailed: (event: SourceFailedEvent) => void,
    signal: AbortSignal,
    verifier?: NoteVerifier,
    finder: SourceFinder = {},
  ) {
    this.logId = logId;
    this.init = { ...SOURCE_POOL_DEFAULTS, ...init };
    this.onFailed = onFailed;
    this.signal = signal;
    // Every waiting fetch and every request listens for the sync's end: far more than the default 10.
    setMaxListeners(0, signal);
    const slots = new SourceSlots(logId, this.init, signal);
    this.slots = slots;
    const pool = {
      states: slots.states,
      drop: (state: SourceState, reason: SourceFailure, error: Error) => this.drop(state, reason, error),
      wake: () => slots.wake(),
    };
    this.claims = verifier && new SourceClaims(logId, this.init, verifier, signal, pool);
    this.finding = new SourceFinding(logId, this.init, finder, signal, {
      add: (source) => this.add(source),
      wake: () => slots.wake(),
    });
    this.failures = {
      logId,
      askHolders: (state) => this.finding.askHolders(state),
      drop: (state, reason, error) => this.drop(state, reason, error),
    };
    for (const s of sources) this.add(s);
  }

  /** Adds a source (a provider found meanwhile); one already present, or one beyond `maxSources`, is ignored. */
  add(source: TileSource): void {
    this.slots.add(source);
  }

  /** Ids of the sources not dropped. */
  active(): string[] {
    return this.slots.active();
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
      const state = await this.slots.acquire(needs, tiles, () => this.lookFurther(needs, tiles));
      if (state.claimed === undefined && this.claims !== undefined) {
        try {
          await this.claims.ask(state);
        } catch (err) {
          this.slots.release(state);
          throw err;
        }
        if (!mayServe(state, needs, tiles)) {
          this.slots.release(state);
          continue;
        }
      }
      let bodies: (Uint8Array | undefined)[];
      const started = Date.now();
      const turn = state.turns.begin(started);
      try {
        bodies = await this.request(state, tiles, turn);
      } catch (err) {
        state.turns.end(turn, Date.now(), false);
        this.slots.release(state);
        if (this.signal.aborted) throw this.signal.reason;
        judgeFailure(state, err, started, this.init, this.failures);
        continue;
      }
      const answeredAt = Date.now();
      state.turns.end(turn, answeredAt, true);
      this.slots.release(state);
      if (bodies.some((b) => b === undefined)) {
        const { claimed, progress } = state;
        const signed = (tile: TileId) =>
          tile.width === TILE_WIDTH && typeof claimed === 'number' && treeHasTile(tile, claimed);
        const withheld = tiles.find((tile, i) => bodies[i] === undefined && signed(tile));
        const unserved = tiles.find((tile, i) => bodies[i] === undefined && progressHasTile(tile, progress));
        if (withheld === undefined && unserved !== undefined && !state.retracted && this.claims) {
          // Before blaming a progress claim, ask it again: an honest node that restarted mid-sync now
          // claims less. Taking a claim back is forgiven once a sync, so a liar costs one more ask.
          await this.claims.reconfirm(state);
          if (state.dropped) continue;
          if (!progressHasTile(unserved, state.progress)) {
            state.retracted = true;
            continue;
          }
        }
        if (withheld !== undefined || unserved !== undefined) {
          const what =
            withheld !== undefined
              ? `tile ${sizeNeeded(withheld)} of a tree of size ${claimed} it signs for`
              : `tile ${sizeNeeded(unserved!)} of the ${progress!.verified} leaves it says it verified`;
          this.drop(
            state,
            'withheld',
            new TileSourceError(state.source.id, 'withheld', `"not found" for ${what}`),
          );
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
      state.strikes = 0;
      state.delivery.add(
        bodies.reduce((n, b) => n + b!.length, 0),
        answeredAt,
      );
      // Judged from its turn: the time it waited behind the source's earlier answers is theirs.
      this.judgeRate(state, needs, bodies as Uint8Array[], answeredAt - turn.at);
      return result;
    }
  }

  /**
   * One request with its time limit from its turn (node/sync/request-turns.ts,
   * node/sync/source-request.ts); every body's bytes are counted.
   */
  private request(
    state: SourceState,
    tiles: readonly TileId[],
    turn: Turn,
  ): Promise<(Uint8Array | undefined)[]> {
    return requestTiles(state.source, this.logId, tiles, {
      timeoutMs: this.init.requestTimeoutMs,
      since: () => turn.at,
      signal: this.signal,
      onBytes: (n) => {
        this.bytes += n;
      },
    });
  }

  /**
   * While `tiles` (needing a tree of `needs`) are fetched: asks again the sources that do not cover them
   * (node/sync/source-claims.ts), and for new sources when due (node/sync/source-finding.ts). Returns
   * whether any of that is under way.
   */
  private lookFurther(needs: number, tiles: readonly TileId[]): boolean {
    this.claims?.recheck(needs, tiles);
    this.finding.discover();
    return (this.claims?.looking ?? 0) + this.finding.looking > 0;
  }

  /** Demotes a source whose answer was below the minimum throughput (node/sync/source-speed.ts). */
  private judgeRate(state: SourceState, needs: number, bodies: readonly Uint8Array[], ms: number): void {
    const error = slowness(state, this.slots.states, needs, bodies, ms, this.init);
    if (error !== undefined) this.drop(state, 'slow', error);
  }

  private drop(state: SourceState, reason: SourceFailure, error: Error): void {
    if (state.dropped) return;
    state.dropped = { reason, message: error.message };
    log.error('dropped source %s for log %s (%s): %s', state.source.id, this.logId, reason, error.message);
    this.onFailed({ logId: this.logId, sourceId: state.source.id, reason, error });
    this.slots.wake();
  }
}
