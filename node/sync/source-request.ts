/**
 * One exchange with one tile source of a sync (node/sync/source-pool.ts): a request for tiles with its
 * time limit, enforced even if the source ignores its abort signal, and the answer's shape and size caps
 * checked (never trusting the source); or the source's own checkpoint, verified with the log key.
 */
import { logger } from '@libp2p/logger';
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import { openSyncProgress, type SyncProgressClaim } from '../../protocol/sync-progress.ts';
import type { TileId } from '../../protocol/tile-path.ts';
import type { NoteVerifier } from '../../protocol/vkey.ts';
import { TileSourceError } from '../errors.ts';
import { maxTileBytes, type TileSource } from './tile-source.ts';

const log = logger('trustix:sync');

/**
 * Asks `source` for `tiles` of `logId` within the deadline (TileSourceError 'timeout'), or until `signal`
 * (the sync's) aborts. Bodies are checked for shape and size ('malformed', 'oversized'); `onBytes` is told
 * of every body's length as it arrives, verified or not. An undefined body is the source's "not found".
 */
export async function requestTiles(
  source: TileSource,
  logId: string,
  tiles: readonly TileId[],
  options: Deadline & { readonly onBytes: (n: number) => void },
): Promise<(Uint8Array | undefined)[]> {
  const bodies = await withDeadline(source, options, (signal) => source.tiles(logId, tiles, { signal }));
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
    options.onBytes(body.length);
    if (body.length > maxTileBytes(tiles[i]!))
      throw new TileSourceError(
        source.id,
        'oversized',
        `${body.length} bytes for a tile of width ${tiles[i]!.width}`,
      );
  });
  return bodies;
}

/** A time limit: `timeoutMs` from `since()` (ms since the epoch; default the call's time). */
export interface Deadline {
  readonly timeoutMs: number;
  /**
   * When the limit starts, read again when it runs out: a later start (the request's turn came,
   * node/sync/request-turns.ts) gives it more time. Default: the call's time, fixed.
   */
  readonly since?: () => number;
  readonly signal: AbortSignal;
}

/**
 * `ask(signal)` of `source`, with `signal` aborted by the sync's abort or once the deadline passed (then
 * TileSourceError 'timeout'), and the answer awaited no longer than that even if the source ignores its
 * signal (a libp2p stream now and then never completes): a sync never waits on a source for ever.
 */
export async function withDeadline<T>(
  source: TileSource,
  options: Deadline,
  ask: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { timeoutMs: ms, signal } = options;
  const called = Date.now();
  const since = options.since ?? (() => called);
  signal.throwIfAborted();
  const controller = new AbortController();
  let rejectEarly: (err: unknown) => void = () => {};
  const early = new Promise<never>((_, reject) => {
    rejectEarly = reject;
  });
  const onAbort = () => {
    controller.abort(signal.reason);
    rejectEarly(signal.reason);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const arm = (wait: number) => {
    timer = setTimeout(() => {
      const left = since() + ms - Date.now();
      if (left > 0) return arm(left);
      const err = new TileSourceError(
        source.id,
        'timeout',
        `no answer within ${ms} ms${options.since ? ' of its turn' : ''}`,
      );
      controller.abort(err);
      rejectEarly(err);
    }, wait);
  };
  arm(ms);
  try {
    return await Promise.race([ask(controller.signal), early]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    early.catch(() => {});
  }
}

/**
 * The size of `source`'s own signed checkpoint of the log, asked within `timeoutMs`: null when it has
 * none or fails to answer (no claim, no blame). A checkpoint that does not verify with `verifier` throws
 * MalformedError or VerificationError (the caller drops the source); the sync's abort throws its reason.
 */
export async function claimedSize(
  source: TileSource,
  logId: string,
  verifier: NoteVerifier,
  options: { timeoutMs: number; signal: AbortSignal },
): Promise<number | null> {
  let note: Uint8Array | undefined;
  try {
    note = await withDeadline(source, options, (signal) => source.checkpoint(logId, { signal }));
  } catch (err) {
    options.signal.throwIfAborted();
    log('source %s gave no checkpoint of %s: %s', source.id, logId, err);
    return null;
  }
  return note === undefined ? null : openCheckpoint(note, verifier).size;
}

/**
 * The progress of `source`'s own sync of the log under way (protocol/sync-progress.ts), asked within
 * `timeoutMs`: undefined when it has none, cannot say (an older peer, an HTTP mirror) or fails to answer
 * (no claim, no blame). One that does not verify throws MalformedError or VerificationError (the caller
 * drops the source); the sync's abort throws its reason.
 */
export async function claimedProgress(
  source: TileSource,
  logId: string,
  verifier: NoteVerifier,
  options: { timeoutMs: number; signal: AbortSignal },
): Promise<SyncProgressClaim | undefined> {
  const { progress } = source;
  if (progress === undefined) return undefined;
  let body: Uint8Array | undefined;
  try {
    body = await withDeadline(source, options, (signal) => progress.call(source, logId, { signal }));
  } catch (err) {
    options.signal.throwIfAborted();
    log('source %s gave no sync progress of %s: %s', source.id, logId, err);
    return undefined;
  }
  return body === undefined ? undefined : openSyncProgress(body, verifier);
}
