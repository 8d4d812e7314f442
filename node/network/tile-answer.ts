/**
 * The answer to one tile exchange request (docs/PROTOCOL.md "Tile exchange"): the response message, a
 * status byte (TILE_STATUS) then the body, whether the request came alone on its stream (1.0.0, 1.1.0) or
 * in a session (1.2.0). Apart from the server (node/network/tile-exchange.ts), which keeps the streams and
 * what they write, because making an answer is a concern of its own: the rate budgets of the peer and its
 * subnet, the request's grammar, a log's holders, the resource read from the held tree or the sync under
 * way, the upload slots of entry bundles and their deflating.
 */
import { logger } from '@libp2p/logger';
import type { RateLimiter } from '@libp2p/utils';
import { MAX_LOG_HOLDERS, TILE_STATUS, TILE_WIDTH } from '../../protocol/constants.ts';
import { MalformedError, OutOfRangeError } from '../../protocol/errors.ts';
import { formatLogHolders } from '../../protocol/log-holders.ts';
import { type LogResource, parseLogResource } from '../../protocol/log-resource.ts';
import { formatSyncProgress } from '../../protocol/sync-progress.ts';
import { boundedText } from '../../protocol/utf8.ts';
import type { LogDirectory, LogReader } from '../store/log-reader.ts';
import type { BundleDeflater } from './bundle-deflater.ts';
import type { TileExchangeSettings } from './tile-exchange-init.ts';
import type { UploadSlots } from './upload-slots.ts';

const log = logger('trustix:tile-exchange');

/** The response message of `status` alone, with no body. */
export const statusOnly = (status: number): Uint8Array => Uint8Array.of(status);

/** The response message: `status` (default ok) then `body`. */
function withStatus(body: Uint8Array, status: number = TILE_STATUS.ok): Uint8Array {
  const response = new Uint8Array(1 + body.length);
  response[0] = status;
  response.set(body, 1);
  return response;
}

/** What answering a request takes of the tile exchange: its settings, rate limiters, logs and bundles' ways out. */
export interface TileAnswering {
  readonly init: TileExchangeSettings;
  /** Requests per peer (maxRequestsPerPeer per rateWindowMs). */
  readonly limiter: RateLimiter;
  /** Requests per IP subnet (maxRequestsPerSubnet per rateWindowMs). */
  readonly subnets: RateLimiter;
  /** The logs served: every log the node holds. */
  readonly logs: LogDirectory;
  readonly uploads: UploadSlots;
  readonly deflater: BundleDeflater;
}

/** The response message (status byte + body) to one request. Throws only for store failures. */
export async function answerTileRequest(
  answering: TileAnswering,
  request: Uint8Array,
  peer: string,
  subnet: string | undefined,
  deflate: boolean,
): Promise<Uint8Array> {
  const { init, limiter, subnets, logs, uploads, deflater } = answering;
  try {
    if (subnet !== undefined) subnets.consume(subnet);
  } catch (err) {
    if ((err as Error).name !== 'RateLimitError') throw err;
    log('subnet %s is over %d requests per %d ms', subnet, init.maxRequestsPerSubnet, init.rateWindowMs);
    return statusOnly(TILE_STATUS.busy);
  }
  try {
    limiter.consume(peer);
  } catch (err) {
    if ((err as Error).name !== 'RateLimitError') throw err;
    log('peer %s is over %d requests per %d ms', peer, init.maxRequestsPerPeer, init.rateWindowMs);
    return statusOnly(TILE_STATUS.busy);
  }
  let path: string;
  let resource: LogResource | undefined;
  try {
    path = boundedText(request, 'tile request', init.maxRequestBytes);
    resource = parseLogResource(path);
  } catch (err) {
    if (!(err instanceof MalformedError || err instanceof OutOfRangeError)) throw err;
    log('bad request from %s: %s', peer, err.message);
    return statusOnly(TILE_STATUS.badRequest);
  }
  // Another resource name under a log: not found, as over HTTP.
  if (resource === undefined) return statusOnly(TILE_STATUS.notFound);
  if (resource.holders) {
    const holders = uploads.recipients(resource.logId, peer, MAX_LOG_HOLDERS);
    return holders.length === 0 ? statusOnly(TILE_STATUS.notFound) : withStatus(formatLogHolders(holders));
  }
  const reader = logs.get(resource.logId);
  let body: Uint8Array | undefined;
  try {
    body = await readResource(reader, resource);
  } catch (err) {
    log.error('reading %s for %s failed: %e', path, peer, err);
    throw err;
  }
  if (body === undefined) return statusOnly(TILE_STATUS.notFound);
  const { tile } = resource;
  // The fan-out applies to the full bundles of the node's own log (node/network/upload-slots.ts).
  const seeding = tile?.width === TILE_WIDTH && logs.own?.(resource.logId) === true;
  if (tile?.kind === 'entries' && !uploads.admit(resource.logId, peer, seeding)) {
    log('%s waits for an upload slot of log %s', peer, resource.logId);
    return statusOnly(TILE_STATUS.busy);
  }
  const deflated = deflate && tile?.kind === 'entries' ? await deflater.deflate(body) : undefined;
  return deflated === undefined ? withStatus(body) : withStatus(deflated, TILE_STATUS.deflated);
}

/**
 * The body of a resource of `reader`'s log, or undefined (not found): the checkpoint; a tile of the tree
 * it holds or, beyond it, a tile its sync under way verified; the progress of that sync.
 */
async function readResource(
  reader: LogReader | undefined,
  resource: LogResource,
): Promise<Uint8Array | undefined> {
  if (reader === undefined) return undefined;
  if (resource.progress) {
    const sync = reader.inProgress?.();
    return sync === undefined ? undefined : formatSyncProgress(sync.verified, sync.target);
  }
  if (resource.tile === undefined) return reader.checkpoint()?.note;
  return (await reader.readTile(resource.tile)) ?? (await reader.inProgress?.()?.readTile(resource.tile));
}
