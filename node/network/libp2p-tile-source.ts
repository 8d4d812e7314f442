/**
 * A TileSource over the tile exchange protocol (node/network/tile-exchange.ts is the server): one peer's
 * checkpoints and tiles, one stream per request. The first request on a connection proposes
 * `/trustix/tiles/1.1.0` then `1.0.0`; the rest use the version it got without waiting for the peer's
 * confirmation (its name goes out with the request). Over 1.1.0 an entry bundle may come deflated (status
 * 4): it is inflated to at most the largest valid body, like a stored answer is capped.
 *
 * Bounded like HttpTileSource: each request (dial, negotiation, request, response, close) has a time
 * limit; the response is refused as soon as its length prefix passes the largest valid body
 * (maxTileBytes, MAX_NOTE_BYTES); at most `maxConcurrency` streams are open to the peer, below the
 * server's default cap on inbound streams. Every stream is closed by both ends or aborted.
 *
 * Status 1 (not found) gives undefined; 3 (busy) TileSourceError 'busy'; 2 (bad request)
 * BadTileRequestError, since a request outside the shared grammar is the asker's fault.
 */
import { setMaxListeners } from 'node:events';
import { promisify } from 'node:util';
import { inflateRaw } from 'node:zlib';
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { lpStream } from '@libp2p/utils';
import type { Multiaddr } from '@multiformats/multiaddr';
import {
  MAX_NOTE_BYTES,
  MAX_TILE_REQUEST_BYTES,
  TILE_STATUS,
  TILES_PROTOCOL_DEFLATE,
  TILES_PROTOCOLS,
} from '../../protocol/constants.ts';
import { MAX_LOG_HOLDERS_BYTES, parseLogHolders } from '../../protocol/log-holders.ts';
import { MAX_PROGRESS_BYTES } from '../../protocol/sync-progress.ts';
import { formatTilePath, type TileId } from '../../protocol/tile-path.ts';
import { BadTileRequestError, DeadlineExceededError, TileSourceError } from '../errors.ts';
import { maxTileBytes, type TileRequestOptions, type TileSource } from '../sync/tile-source.ts';
import { endStream } from './tile-exchange.ts';

const log = logger('trustix:tile-exchange');
const utf8 = new TextEncoder();
/** Longest varint length prefix of a response (a tile body is under 2^28 bytes). */
const MAX_PREFIX_BYTES = 4;
const inflateRawAsync = promisify(inflateRaw);

export interface Libp2pTileSourceComponents {
  /** Opens connections: the libp2p node. */
  readonly dialer: Pick<Libp2p, 'dial'>;
}

export interface Libp2pTileSourceInit {
  /** The peer to ask: its PeerId (addresses from the peer store), or a multiaddr ending in /p2p/<PeerId>. */
  readonly peer: PeerId | Multiaddr;
  /** Name in reports and penalties. Default the PeerId (or the multiaddr without one). */
  readonly id?: string;
  /** Time for one request, from dial to the closed stream, in ms. Default 10,000. */
  readonly timeoutMs?: number;
  /**
   * Concurrent requests to this peer, for all the syncs that use it. Default 24: above a sync's 16 per
   * source (node/sync/source-pool.ts), below the server's 32 inbound streams per connection.
   */
  readonly maxConcurrency?: number;
}

export class Libp2pTileSource implements TileSource {
  readonly id: string;
  private readonly components: Libp2pTileSourceComponents;
  private readonly peer: PeerId | Multiaddr;
  private readonly timeoutMs: number;
  private readonly maxConcurrency: number;
  private active = 0;
  /**
   * The connection of the last request, reused while open: finding it again through the node costs a
   * multiaddr parse and a PeerId decode per request, as much as the rest of a small request.
   */
  private connection: Connection | undefined;
  /** The tile exchange version the peer chose on `connection`, once a request has negotiated it. */
  private protocol: string | undefined;
  /** Requests waiting for a slot; release() hands its slot to the first. */
  private readonly waiting: (() => void)[] = [];

  constructor(components: Libp2pTileSourceComponents, init: Libp2pTileSourceInit) {
    this.components = components;
    this.peer = init.peer;
    this.id = init.id ?? peerName(init.peer);
    this.timeoutMs = init.timeoutMs ?? 10_000;
    this.maxConcurrency = init.maxConcurrency ?? 24;
    if (!(this.timeoutMs > 0) || !Number.isInteger(this.maxConcurrency) || this.maxConcurrency < 1)
      throw new RangeError('timeoutMs must be positive and maxConcurrency a positive integer');
  }

  async checkpoint(logId: string, options: TileRequestOptions = {}): Promise<Uint8Array | undefined> {
    return this.request(`${logId}/checkpoint`, MAX_NOTE_BYTES, options.signal);
  }

  /** The peer's sync progress of the log (protocol/sync-progress.ts), unverified; undefined for none. */
  async progress(logId: string, options: TileRequestOptions = {}): Promise<Uint8Array | undefined> {
    return this.request(`${logId}/progress`, MAX_PROGRESS_BYTES, options.signal);
  }

  /** The peers the peer served the log's entry bundles to lately (protocol/log-holders.ts); undefined for none. */
  async holders(logId: string, options: TileRequestOptions = {}): Promise<string[] | undefined> {
    const body = await this.request(`${logId}/holders`, MAX_LOG_HOLDERS_BYTES, options.signal);
    if (body === undefined) return undefined;
    try {
      return parseLogHolders(body);
    } catch (err) {
      throw new TileSourceError(this.id, 'malformed', (err as Error).message, { cause: err });
    }
  }

  async tiles(
    logId: string,
    tiles: readonly TileId[],
    options: TileRequestOptions = {},
  ): Promise<(Uint8Array | undefined)[]> {
    const paths = tiles.map((tile) => `${logId}/${formatTilePath(tile)}`);
    if (tiles.length === 1) return [await this.request(paths[0]!, maxTileBytes(tiles[0]!), options.signal)];
    // The first failure fails the batch: it aborts the other requests (before its slot is handed on).
    const batch = new AbortController();
    setMaxListeners(Infinity, batch.signal); // one listener per request of the batch
    const signal =
      options.signal === undefined ? batch.signal : AbortSignal.any([options.signal, batch.signal]);
    return Promise.all(paths.map((path, i) => this.request(path, maxTileBytes(tiles[i]!), signal, batch)));
  }

  /** One request on its own stream: the body (status 0), undefined (status 1), or a typed error. */
  private async request(
    path: string,
    limit: number,
    signal?: AbortSignal,
    batch?: AbortController,
  ): Promise<Uint8Array | undefined> {
    const request = utf8.encode(path);
    if (request.length > MAX_TILE_REQUEST_BYTES)
      throw new BadTileRequestError(this.id, path, `request over ${MAX_TILE_REQUEST_BYTES} bytes`);
    await this.acquire(signal);
    // One controller for the request: the caller's signal and the time limit both abort it.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new DeadlineExceededError(`no complete answer within ${this.timeoutMs} ms`));
    }, this.timeoutMs);
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    const combined = controller.signal;
    let stream: Stream | undefined;
    try {
      stream = await this.open(combined);
      const deflated = stream.protocol === TILES_PROTOCOL_DEFLATE;
      const lp = lpStream(stream, { maxDataLength: 1 + limit, maxBufferSize: 1 + limit + MAX_PREFIX_BYTES });
      await lp.write(request, { signal: combined });
      await stream.close({ signal: combined });
      const response = await lp.read({ signal: combined });
      await endStream(stream, combined);
      if (response.byteLength === 0)
        throw new TileSourceError(this.id, 'malformed', `an empty answer, for ${path}`);
      return await this.decode(path, response.get(0), response.subarray(1), deflated ? limit : undefined);
    } catch (err) {
      stream?.abort(err as Error);
      const error = signal?.aborted ? signal.reason : this.failure(path, limit, err, timedOut);
      batch?.abort(error);
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.release();
    }
  }

  /** A new tile exchange stream to the peer, on the connection of the last request while it is open. */
  private async open(signal: AbortSignal): Promise<Stream> {
    let connection = this.connection;
    if (connection === undefined || connection.status !== 'open') {
      connection = await this.components.dialer.dial(this.peer, { signal });
      this.connection = connection;
      this.protocol = undefined;
    }
    // A relayed connection is "limited" (data and time caps set by the relay): tiles may still use it.
    const options = { signal, runOnLimitedConnection: true };
    // Known version: its name goes out with the request (negotiateFully false), one round trip less.
    if (this.protocol !== undefined)
      return connection.newStream(this.protocol, { ...options, negotiateFully: false });
    const stream = await connection.newStream([...TILES_PROTOCOLS], options);
    if (connection === this.connection) this.protocol = stream.protocol;
    return stream;
  }

  /**
   * The answer to a request: its status byte and body (a view, or its own buffer when it came in pieces).
   * `inflateLimit`: the stream is 1.1.0, so a deflated body may come, inflated to at most that.
   */
  private async decode(
    path: string,
    status: number,
    body: Uint8Array,
    inflateLimit: number | undefined,
  ): Promise<Uint8Array | undefined> {
    // A view must be copied: the body must not pin the (larger) network buffer it arrived in.
    if (status === TILE_STATUS.ok)
      return body.byteLength === body.buffer.byteLength ? body : new Uint8Array(body);
    if (status === TILE_STATUS.deflated && inflateLimit !== undefined)
      return this.inflate(path, body, inflateLimit);
    if (body.length !== 0)
      throw new TileSourceError(this.id, 'malformed', `status ${status} with a body, for ${path}`);
    if (status === TILE_STATUS.notFound) return undefined;
    if (status === TILE_STATUS.busy) throw new TileSourceError(this.id, 'busy', `busy, for ${path}`);
    if (status === TILE_STATUS.badRequest)
      throw new BadTileRequestError(this.id, path, 'the peer refused the request as malformed');
    throw new TileSourceError(this.id, 'malformed', `unknown status ${status}, for ${path}`);
  }

  /** A deflated body, inflated to at most `limit` bytes (past it: oversized; not DEFLATE: malformed). */
  private async inflate(path: string, body: Uint8Array, limit: number): Promise<Uint8Array> {
    try {
      const inflated = await inflateRawAsync(body, { maxOutputLength: limit });
      return new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE')
        throw new TileSourceError(this.id, 'oversized', `a deflated answer over ${limit} bytes for ${path}`);
      throw new TileSourceError(
        this.id,
        'malformed',
        `a deflated answer that does not inflate, for ${path}`,
        {
          cause: err,
        },
      );
    }
  }

  /** Maps a failed exchange to the TileSourceError the sync understands. */
  private failure(path: string, limit: number, err: unknown, timedOut: boolean): Error {
    if (err instanceof TileSourceError || err instanceof BadTileRequestError) return err;
    const name = (err as Error | undefined)?.name;
    if (timedOut)
      return new TileSourceError(this.id, 'timeout', `no complete answer within ${this.timeoutMs} ms`, {
        cause: err,
      });
    if (
      name === 'InvalidDataLengthError' ||
      name === 'InvalidDataLengthLengthError' ||
      name === 'StreamBufferError'
    )
      return new TileSourceError(this.id, 'oversized', `answer over ${limit} bytes for ${path}`, {
        cause: err,
      });
    // Unreachable, protocol not supported, reset (also when over the server's stream cap), cut short.
    log('request %s to %s failed: %s', path, this.id, (err as Error | undefined)?.message);
    return new TileSourceError(this.id, 'unavailable', `${name ?? 'error'}: ${(err as Error)?.message}`, {
      cause: err,
    });
  }

  private async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.active < this.maxConcurrency) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(take), 1);
        reject(signal!.reason);
      };
      const take = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiting.push(take);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    // Handed a slot by release(): active already counts it.
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.active--;
    else next();
  }
}

function peerName(peer: PeerId | Multiaddr): string {
  if ('getComponents' in peer)
    return peer.getComponents().find((c) => c.name === 'p2p')?.value ?? peer.toString();
  return peer.toString();
}
