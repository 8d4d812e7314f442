/**
 * How a sync judges a failed request to one of its sources (node/sync/source-pool.ts): a busy source is
 * paused and asked again, up to `busyRetries` pauses in a row, and asked for its holders; one whose
 * request timed out is asked again `timeoutRetries` times; any other failure drops it. Apart from the
 * pool's fetch loop because this policy, and the counts it keeps on a source, are what decide how long
 * a sync keeps a source that serves others or stalls.
 */
import { logger } from '@libp2p/logger';
import { MalformedError } from '../../protocol/errors.ts';
import { type SourceFailure, TileSourceError } from '../errors.ts';
import type { SourceState } from './source-slots.ts';

const log = logger('trustix:sync');

export interface RequestFailureInit {
  readonly busyRetries: number;
  readonly timeoutRetries: number;
  readonly busyBackoffMs: number;
  readonly busyMaxPauseMs: number;
}

/** What judgeFailure needs of its pool. */
export interface FailurePool {
  readonly logId: string;
  /** Asks a busy source whom it served the log to (node/sync/source-finding.ts). */
  askHolders(state: SourceState): void;
  /** Drops a source for the rest of the sync. */
  drop(state: SourceState, reason: SourceFailure, error: Error): void;
}

/** A failed request, sent at `started` (ms): pause, ask again, or drop the source. */
export function judgeFailure(
  state: SourceState,
  err: unknown,
  started: number,
  init: RequestFailureInit,
  pool: FailurePool,
): void {
  const error =
    err instanceof TileSourceError
      ? err
      : new TileSourceError(
          state.source.id,
          err instanceof MalformedError ? 'malformed' : 'unavailable',
          err instanceof Error ? err.message : String(err),
          { cause: err },
        );
  // Sent before the latest pause began: it was answered with what that pause already says.
  if (error.reason === 'busy' && started < state.pausedAt) return;
  // One failure of the source's session (node/network/request-session.ts) fails every request queued on
  // it, each with that failure as its cause: it counts once, as one request's would.
  if (error.cause !== undefined && error.cause === state.lastCause) return;
  state.lastCause = error.cause;
  if (error.reason === 'busy') pool.askHolders(state);
  if (error.reason === 'busy' && state.strikes < init.busyRetries) {
    const pause = Math.min(init.busyBackoffMs * 2 ** state.strikes, init.busyMaxPauseMs);
    state.pausedAt = Date.now();
    state.pausedUntil = state.pausedAt + pause;
    state.strikes++;
    log('source %s is busy for log %s; pausing it', state.source.id, pool.logId);
    return;
  }
  if (error.reason === 'timeout' && state.timeouts < init.timeoutRetries) {
    state.timeouts++;
    log('a request to source %s for log %s timed out; asking again', state.source.id, pool.logId);
    return;
  }
  pool.drop(state, error.reason, error);
}
