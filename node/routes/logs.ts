/**
 * The log routes of the HTTP server: C2SP tlog-tiles resources under a per-log prefix, for every log
 * the node holds (docs/PROTOCOL.md "HTTP").
 *
 *   GET|HEAD /logs/<logID>/checkpoint          the latest signed checkpoint note, bytes as stored
 *   GET|HEAD /logs/<logID>/tile/<L>/<N>[.p/<W>]  hash tile
 *   GET|HEAD /logs/<logID>/tile/entries/<N>[.p/<W>]  entry bundle
 *
 * <logID> is 64 lowercase hex; tile paths are parsed strictly (protocol/tile-path.ts). The whole
 * /logs/ namespace is read-only (405 for other methods) and takes no query string (400): a tile URL has
 * exactly one spelling, which keeps caches and verifiers simple.
 */

import { TILE_WIDTH } from '../../protocol/constants.ts';
import { MalformedError } from '../../protocol/errors.ts';
import { parseTilePath, type TileId } from '../../protocol/tile-path.ts';
import {
  type HttpRequest,
  type HttpResponse,
  type HttpRoutes,
  MethodNotAllowedError,
} from '../http/server.ts';
import type { LogDirectory } from '../store/log-reader.ts';

const PREFIX = '/logs/';
const LOG_ID = /^[0-9a-f]{64}$/;
const ALLOW = ['GET', 'HEAD'] as const;
const LOG_ID_LENGTH = 64;

export interface LogRoutesInit {
  /**
   * max-age (seconds) of partial tiles, 0 for no-cache. Their bytes never change, but C2SP lets a log
   * stop serving a partial tile once the full one exists, so caches keep them briefly. Default 60.
   * Full tiles are immutable (one year).
   */
  readonly partialTileMaxAgeSeconds?: number;
}

export interface LogRoutesComponents {
  readonly logs: LogDirectory;
}

/** A log resource: the checkpoint (no tile) or a tile of the log `logId`. */
export interface LogResource {
  readonly logId: string;
  readonly tile?: TileId;
}

/**
 * Parses `<logID>/checkpoint` or `<logID>/tile/...`, the grammar HTTP (after `/logs/`) and the tile
 * exchange protocol share. Throws MalformedError for a bad log ID or tile path; undefined for another
 * resource name.
 */
export function parseLogResource(path: string): LogResource | undefined {
  const logId = path.slice(0, LOG_ID_LENGTH);
  const rest = path.slice(LOG_ID_LENGTH);
  if (!LOG_ID.test(logId) || !(rest === '' || rest.startsWith('/')))
    throw new MalformedError('log ID', 'expected 64 lowercase hex digits');
  if (rest === '/checkpoint') return { logId };
  if (rest.startsWith('/tile/')) return { logId, tile: parseTilePath(rest.slice(1)) };
  return undefined;
}

const CHECKPOINT_HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' };
const FULL_TILE_HEADERS = {
  'content-type': 'application/octet-stream',
  'cache-control': 'public, max-age=31536000, immutable',
};

export class LogRoutes implements HttpRoutes {
  private readonly components: LogRoutesComponents;
  private readonly partialTileHeaders: Readonly<Record<string, string>>;

  constructor(components: LogRoutesComponents, init: LogRoutesInit = {}) {
    this.components = components;
    const maxAge = init.partialTileMaxAgeSeconds ?? 60;
    if (!Number.isSafeInteger(maxAge) || maxAge < 0)
      throw new RangeError('partialTileMaxAgeSeconds must be a non-negative integer');
    this.partialTileHeaders = {
      'content-type': 'application/octet-stream',
      'cache-control': maxAge === 0 ? 'no-cache' : `public, max-age=${maxAge}`,
    };
  }

  async handle(request: HttpRequest): Promise<HttpResponse | undefined> {
    const { path } = request;
    if (!path.startsWith(PREFIX)) return undefined;
    if (request.method !== 'GET' && request.method !== 'HEAD')
      throw new MethodNotAllowedError(request.method, ALLOW);
    if (request.query !== undefined)
      throw new MalformedError('log path', 'query strings are not accepted under /logs/');

    const resource = parseLogResource(path.slice(PREFIX.length));
    if (resource === undefined) return undefined;
    const reader = this.components.logs.get(resource.logId);
    if (resource.tile === undefined) {
      const checkpoint = reader?.checkpoint();
      if (checkpoint === undefined) return undefined;
      return { headers: CHECKPOINT_HEADERS, body: checkpoint.note };
    }
    const body = await reader?.readTile(resource.tile);
    if (body === undefined) return undefined;
    const full = resource.tile.width === TILE_WIDTH;
    return { headers: full ? FULL_TILE_HEADERS : this.partialTileHeaders, body };
  }
}
