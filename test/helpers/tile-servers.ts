/**
 * Real HTTP tile servers on 127.0.0.1 for sync tests: a builder's log served by HttpServer + LogRoutes,
 * honestly or through a reader that misbehaves in one chosen way.
 */
import { NodeUnavailableError } from '../../node/errors.ts';
import { HttpServer } from '../../node/http/server.ts';
import { LogRoutes } from '../../node/routes/logs.ts';
import type { LogReader } from '../../node/store/log-reader.ts';
import { HttpTileSource, type HttpTileSourceInit } from '../../node/sync/tile-source.ts';
import { decodeEntryBundle, encodeEntryBundle } from '../../protocol/entry-bundle.ts';
import { leafHash } from '../../protocol/merkle.ts';
import type { TileId } from '../../protocol/tile-path.ts';
import { fingerprint, prng, randomNarHash, randomStorePath } from './synthetic-entries.ts';

export interface TileServer {
  readonly url: string;
  readonly source: HttpTileSource;
  /** Tile requests answered, by kind ('hash' or 'entries'), with the tile indices. */
  readonly served: { hash: TileId[]; entries: TileId[] };
  stop(): Promise<void>;
}

/** A misbehaviour: the reader's answer for a tile, given the honest one. */
export type Tamper = (
  tile: TileId,
  body: Uint8Array | undefined,
) => Promise<Uint8Array | undefined> | Uint8Array | undefined;

const FORGED_ENTRY = new TextEncoder().encode(
  fingerprint(randomStorePath(prng(99), 'forged-1.0'), randomNarHash(prng(98)), 1234, []),
);

/** Flips one byte (a copy) at `at` from the end, so length prefixes stay intact. */
export function flipped(body: Uint8Array, fromEnd = 3): Uint8Array {
  const out = Uint8Array.from(body);
  out[out.length - fromEnd]! ^= 0x01;
  return out;
}

export const tampers = {
  /** One byte of every entry bundle altered (inside its last entry). */
  bundleByte: ((tile, body) => (tile.kind === 'entries' && body ? flipped(body) : body)) as Tamper,
  /** One byte of every level-0 hash tile altered. */
  tileByte: ((tile, body) =>
    tile.kind === 'hash' && tile.level === 0 && body ? flipped(body) : body) as Tamper,
  /** Hash tiles one hash short of the width asked for. */
  wrongWidth: ((tile, body) =>
    tile.kind === 'hash' && body ? body.subarray(0, body.length - 32) : body) as Tamper,
  /**
   * A consistent lie: entry 0 of every full bundle replaced by another valid entry, and hash 0 of every full level-0
   * tile by that entry's leaf hash, so bundle and tile agree and only the tile above exposes them.
   */
  forged: ((tile, body) => {
    // Full tiles and bundles only: the edge (partial tiles) would give it away at once.
    if (body === undefined || tile.width !== 256 || (tile.kind === 'hash' && tile.level > 0)) return body;
    if (tile.kind === 'hash') {
      const out = Uint8Array.from(body);
      out.set(leafHash(FORGED_ENTRY), 0);
      return out;
    }
    const entries = decodeEntryBundle(body, tile.width);
    return encodeEntryBundle([FORGED_ENTRY, ...entries.slice(1)]);
  }) as Tamper,
  /** Hash tiles with a hash too many (over the size cap of what was asked). */
  oversized: ((tile, body) =>
    tile.kind === 'hash' && body ? new Uint8Array(body.length + 32) : body) as Tamper,
  /** Every tile answered 503 (busy). */
  busy: (() => {
    throw new NodeUnavailableError('busy');
  }) as Tamper,
  /** Entry bundles never answered. */
  hang: ((tile, body) => (tile.kind === 'entries' ? new Promise<never>(() => {}) : body)) as Tamper,
};

/** Serves `reader` (through `tamper` when given) on a fresh HTTP server. */
export async function startTileServer(
  reader: LogReader,
  options: { tamper?: Tamper; source?: Omit<HttpTileSourceInit, 'url'> } = {},
): Promise<TileServer> {
  const served = { hash: [] as TileId[], entries: [] as TileId[] };
  const tamper = options.tamper;
  const wrapped: LogReader = {
    logId: reader.logId,
    key: reader.key,
    checkpoint: () => reader.checkpoint(),
    async readTile(tile) {
      served[tile.kind].push(tile);
      const body = await reader.readTile(tile);
      return tamper === undefined ? body : tamper(tile, body);
    },
  };
  const server = new HttpServer({}, { requestTimeoutMs: 60_000 });
  server.register(
    new LogRoutes({
      logs: { get: (id) => (id === reader.logId ? wrapped : undefined), list: () => [wrapped] },
    }),
  );
  await server.start();
  const { host, port } = server.address();
  const url = `http://${host}:${port}/`;
  return {
    url,
    source: new HttpTileSource({ url, ...options.source }),
    served,
    stop: () => server.stop(),
  };
}
