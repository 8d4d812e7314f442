/**
 * What the sources of a sync claim to hold (node/sync/source-pool.ts): each source's own signed
 * checkpoint of the log, and the progress of its own sync under way (protocol/sync-progress.ts: the
 * target it syncs to and how much of it it verified), both verified with the log key. A claim bounds what
 * a source is asked for and is what it answers for: "not found" for a tile it claims is withholding.
 * No answer, or none to give, is no claim and no blame; a claim that does not verify drops the source.
 *
 * While tiles remain that a source does not cover, it is asked again in the background: a source whose
 * sync under way may yet verify them, for its progress alone, every `progressRecheckMs` (its progress
 * grows by the second); any other, for both, every `recheckMs` (a peer that catches up meanwhile takes
 * its share of the load).
 */
import { logger } from '@libp2p/logger';
import { MalformedError, VerificationError } from '../../protocol/errors.ts';
import type { SyncProgressClaim } from '../../protocol/sync-progress.ts';
import type { TileId } from '../../protocol/tile-path.ts';
import type { NoteVerifier } from '../../protocol/vkey.ts';
import type { SourceFailure } from '../errors.ts';
import { claimedProgress, claimedSize } from './source-request.ts';
import { mayServe, type SourceState } from './source-slots.ts';
import { growing } from './tile-coverage.ts';

const log = logger('trustix:sync');

export interface SourceClaimsInit {
  readonly requestTimeoutMs: number;
  readonly recheckMs: number;
  readonly progressRecheckMs: number;
}

/** What SourceClaims needs of its pool. */
export interface ClaimsPool {
  /** The pool's sources. */
  readonly states: readonly SourceState[];
  /** Drops a source whose claim did not verify. */
  drop(state: SourceState, reason: SourceFailure, error: Error): void;
  /** Wakes requests waiting for a source. */
  wake(): void;
}

export class SourceClaims {
  /** Asks under way in the background. */
  looking = 0;
  private readonly logId: string;
  private readonly init: SourceClaimsInit;
  private readonly verifier: NoteVerifier;
  private readonly signal: AbortSignal;
  private readonly pool: ClaimsPool;

  constructor(
    logId: string,
    init: SourceClaimsInit,
    verifier: NoteVerifier,
    signal: AbortSignal,
    pool: ClaimsPool,
  ) {
    this.logId = logId;
    this.init = init;
    this.verifier = verifier;
    this.signal = signal;
    this.pool = pool;
  }

  /** The first ask of a source: its checkpoint bounds what it is asked for by its size. */
  async ask(state: SourceState): Promise<void> {
    state.claimed = null;
    state.checkedAt = Date.now();
    const [claimed, progress] = await Promise.all([this.checkpoint(state), this.progress(state)]);
    this.takeProgress(state, progress);
    if (claimed === undefined || claimed === null) return;
    state.claimed = claimed;
    state.maxSize = Math.min(state.maxSize, claimed);
  }

  /**
   * Asks again, in the background, each source that does not cover `tiles` (needing a tree of `needs`),
   * at most every `progressRecheckMs` (syncing) or `recheckMs` (others). A larger checkpoint raises what
   * the source is asked for to its new size.
   */
  recheck(needs: number, tiles: readonly TileId[]): void {
    const now = Date.now();
    const { recheckMs, progressRecheckMs } = this.init;
    for (const state of this.pool.states) {
      if (state.dropped || state.checking || state.claimed === undefined || mayServe(state, needs, tiles))
        continue;
      // Its sync may verify these tiles soon: its progress alone, often. Otherwise both, now and then.
      const soon = growing(state.progress, needs, tiles);
      const every = soon ? progressRecheckMs : recheckMs;
      if (every <= 0 || now - state.checkedAt < every) continue;
      state.checking = true;
      this.looking++;
      Promise.all([soon ? state.claimed : this.checkpoint(state), this.progress(state)])
        .then(([claimed, progress]) => {
          this.takeProgress(state, progress);
          if (typeof claimed !== 'number' || claimed <= (state.claimed ?? -1)) return;
          log('source %s now holds %s at size %d', state.source.id, this.logId, claimed);
          state.claimed = claimed;
          state.maxSize = claimed;
        })
        .catch(() => {}) // the sync was aborted
        .finally(() => {
          state.checking = false;
          state.checkedAt = Date.now();
          this.looking--;
          this.pool.wake();
        });
    }
  }

  /**
   * Asks a source for its progress once more, now: a node that restarts mid-sync loses the bundles it
   * held in memory for their step, so an honest source may answer "not found" for what its earlier claim
   * covered; its fresh claim says so.
   */
  async reconfirm(state: SourceState): Promise<void> {
    this.takeProgress(state, await this.progress(state));
  }

  private takeProgress(state: SourceState, progress: SyncProgressClaim | null | undefined): void {
    if (progress === null || state.dropped) return; // did not verify: dropped
    const before = state.progress?.verified ?? -1;
    state.progress =
      progress === undefined ? undefined : { size: progress.target.size, verified: progress.verified };
    if (progress !== undefined && progress.verified > before) state.grewAt = Date.now();
  }

  /** The source's claimed size; undefined when its checkpoint did not verify (it is dropped). */
  private async checkpoint(state: SourceState): Promise<number | null | undefined> {
    try {
      return await claimedSize(state.source, this.logId, this.verifier, this.options());
    } catch (err) {
      return this.refuse(state, err);
    }
  }

  /** The source's progress; undefined for none, null when it did not verify (it is dropped). */
  private async progress(state: SourceState): Promise<SyncProgressClaim | null | undefined> {
    try {
      return await claimedProgress(state.source, this.logId, this.verifier, this.options());
    } catch (err) {
      return this.refuse(state, err) ?? null;
    }
  }

  private refuse(state: SourceState, err: unknown): undefined {
    if (!(err instanceof MalformedError || err instanceof VerificationError)) throw err;
    this.pool.drop(state, err instanceof VerificationError ? 'invalid' : 'malformed', err);
    return undefined;
  }

  private options() {
    return { timeoutMs: this.init.requestTimeoutMs, signal: this.signal };
  }
}
