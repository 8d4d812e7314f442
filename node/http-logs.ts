/**
 * The log routes of the HTTP server: C2SP tlog-tiles resources under a per-log prefix, for every log
 * the node holds (DESIGN.md section 5).
 *
 *   GET|HEAD /logs/<logID>/checkpoint          the latest signed checkpoint note, bytes as stored
 *   GET|HEAD /logs/<logID>/tile/<L>/<N>[.p/<W>]  hash tile
 *   GET|HEAD /logs/<logID>/tile/entries/<N>[.p/<W>]  entry bundle
 *
 * <logID> is 64 lowercase hex; tile paths are parsed strictly (protocol/tile-path.ts). The whole
 * /logs/ namespace is read-only (405 for other methods) and takes no query string (400): a tile URL has
 * exactly one spelling, which keeps caches and verifiers simple.
 */

import { TILE_WIDTH } from '../protocol/constants.ts';
import { MalformedError } from '../protocol/errors.ts';
import { parseTilePath } from '../protocol/tile-path.ts';
import {
  type HttpRequest,
  type HttpResponse,
  type HttpRoutes,
  MethodNotAllowedError,
} from './http-server.ts';
import type { LogDirectory } from './log-reader.ts';

const PREFIX = '/logs/';
const LOG_ID = /^[0-9a-f]{64}$/;
const ALLOW = ['GET', 'HEAD'] as const;
const LOG_ID_LENGTH = 64;

export interface LogRoutesInit {
  /**
   * max-age (seconds) of partial tiles. Their bytes never change, but the store drops a partial tile
   * once the tile grows, so caches keep them briefly. Default 60. Full tiles are immutable (one year).
   */
  readonly partialTileMaxAgeSeconds?: number;
}

export interface LogRoutesComponents {
  readonly logs: LogDirectory;
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

    const logId = path.slice(PREFIX.length, PREFIX.length + LOG_ID_LENGTH);
    const rest = path.slice(PREFIX.length + LOG_ID_LENGTH);
    if (!LOG_ID.test(logId) || !(rest === '' || rest.startsWith('/')))
      throw new MalformedError('log ID', 'expected 64 lowercase hex digits');
    const resource = rest.slice(1);

    if (resource === 'checkpoint') {
      const checkpoint = this.components.logs.get(logId)?.checkpoint();
      if (checkpoint === undefined) return undefined;
      return { headers: CHECKPOINT_HEADERS, body: checkpoint.note };
    }
    if (resource.startsWith('tile/')) {
      const tile = parseTilePath(resource);
      const reader = this.components.logs.get(logId);
      if (reader === undefined) return undefined;
      const body = await reader.readTile(tile);
      if (body === undefined) return undefined;
      return { headers: tile.width === TILE_WIDTH ? FULL_TILE_HEADERS : this.partialTileHeaders, body };
    }
    return undefined;
  }
}
