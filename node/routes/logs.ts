/**
 * The log routes of the HTTP server: C2SP tlog-tiles resources under a per-log prefix, for every log
 * the node holds (docs/PROTOCOL.md "HTTP").
 *
 *   GET|HEAD /logs/<logID>/checkpoint          the latest signed checkpoint note, bytes as stored
 *   GET|HEAD /logs/<logID>/tile/<L>/<N>[.p/<W>]  hash tile
 *   GET|HEAD /logs/<logID>/tile/entries/<N>[.p/<W>]  entry bundle
 *
 * The resource name after `/logs/` is parsed strictly (protocol/log-resource.ts). The whole /logs/
 * namespace takes no query string (400): a tile URL has exactly one spelling, which keeps caches and
 * verifiers simple.
 */

import { TILE_WIDTH } from '../../protocol/constants.ts';
import { parseLogResource } from '../../protocol/log-resource.ts';
import type { HttpRequest, HttpResponse, HttpRoutes, Route } from '../http/route.ts';
import type { LogDirectory } from '../store/log-reader.ts';

const PREFIX = '/logs/';

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

  readonly routes: readonly Route[] = [
    { name: 'logs', paths: { prefix: PREFIX }, handle: (request) => this.resource(request) },
  ];

  private async resource(request: HttpRequest): Promise<HttpResponse | undefined> {
    const resource = parseLogResource(request.path.slice(PREFIX.length));
    // A sync's progress and a log's holders are tile exchange resources only (docs/PROTOCOL.md).
    if (resource === undefined || resource.progress || resource.holders) return undefined;
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
