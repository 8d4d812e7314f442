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
 * Asks `source` for `tiles` of `logId` within `timeoutMs` (TileSourceError 'timeout'), or until `signal`
 * (the sync's) aborts. Bodies are checked for shape and size ('malformed', 'oversized'); `onBytes` is told
 * of every body's length as it arrives, verified or not. An undefined body is the source's "not found".
 */
export async function requestTiles(
  source: TileSource,
  logId: string,
  tiles: readonly TileId[],
  options: { timeoutMs: number; signal: AbortSignal; onBytes: (n: number) => void },
): Promise<(Uint8Array | undefined)[]> {
  const { timeoutMs: ms, signal } = options;
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new TileSourceError(source.id, 'timeout', `no answer within ${ms} ms`);
      controller.abort(err);
      reject(err);
    }, ms);
  });
  try {
    const bodies = await Promise.race([source.tiles(logId, tiles, { signal: controller.signal }), expired]);
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
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    expired.catch(() => {});
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
    note = await source.checkpoint(logId, {
      signal: AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]),
    });
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
  if (source.progress === undefined) return undefined;
  let body: Uint8Array | undefined;
  try {
    body = await source.progress(logId, {
      signal: AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]),
    });
  } catch (err) {
    options.signal.throwIfAborted();
    log('source %s gave no sync progress of %s: %s', source.id, logId, err);
    return undefined;
  }
  return body === undefined ? undefined : openSyncProgress(body, verifier);
}
