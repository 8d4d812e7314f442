/**
 * A TileSource over the tile exchange protocol (node/network/tile-exchange.ts is the server): one peer's
 * checkpoints and tiles. The first request on a connection proposes `/trustix/tiles/1.2.0`, `1.1.0`, then
 * `1.0.0` (node/network/tile-link.ts keeps the connection, the version and the session, and the slots
 * of the requests in flight). With 1.2.0 the requests to the peer share one stream, a session
 * (node/network/request-session.ts): no stream to open and no negotiation per request, which under libp2p 3
 * cost a round trip each. With an older version, each request has a stream of its own, of the version
 * the peer chose. Over 1.1.0 and
 * 1.2.0 an entry bundle may come deflated (status 4): it is inflated to at most the largest valid body,
 * like a stored answer is capped.
 *
 * Bounded like HttpTileSource: each request (dial, negotiation, request, response, close) has a time
 * limit; the response is refused as soon as its length prefix passes the largest valid body
 * (maxTileBytes, MAX_NOTE_BYTES); at most `maxConcurrency` requests are in flight to the peer (fewer on
 * streams of their own, below the server's default cap on inbound streams). Every stream is closed by
 * both ends or aborted.
 *
 * Status 1 (not found) gives undefined; 3 (busy) TileSourceError 'busy'; 2 (bad request)
 * BadTileRequestError, since a request outside the shared grammar is the asker's fault.
 */
import { setMaxListeners } from 'node:events';
import { promisify } from 'node:util';
import { inflateRaw } from 'node:zlib';
import type { Libp2p, PeerId, Stream } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { lpStream } from '@libp2p/utils';
import type { Multiaddr } from '@multiformats/multiaddr';
import {
  MAX_NOTE_BYTES,
  MAX_TILE_REQUEST_BYTES,
  TILE_SESSION_DEPTH,
  TILE_STATUS,
  TILES_PROTOCOL,
  TILES_PROTOCOL_SESSION,
} from '../../protocol/constants.ts';
import { MAX_LOG_HOLDERS_BYTES, parseLogHolders } from '../../protocol/log-holders.ts';
import { MAX_PROGRESS_BYTES } from '../../protocol/sync-progress.ts';
import { formatTilePath, type TileId } from '../../protocol/tile-path.ts';
import { BadTileRequestError, DeadlineExceededError, TileSourceError } from '../errors.ts';
import { maxTileBytes, type TileRequestOptions, type TileSource } from '../sync/tile-source.ts';
import { endStream } from './framed-message.ts';
import { RequestSession } from './request-session.ts';
import { MAX_PREFIX_BYTES, TileLink } from './tile-link.ts';

const log = logger('trustix:tile-exchange');
const utf8 = new TextEncoder();
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
  /**
   * Time for one request, from dial to the closed stream, in ms; on a session, for each answer from its
   * turn (node/network/request-session.ts). Default 10,000.
   */
  readonly timeoutMs?: number;
  /**
   * Concurrent requests to this peer on its session, for all the syncs that use it; at most
   * TILE_SESSION_DEPTH (what a server reads ahead). Default 48: a sync's 48 on a lone source
   * (node/sync/source-pool-init.ts). A peer without sessions gets at most 24, each on a stream of its own.
   */
  readonly maxConcurrency?: number;
  /** A session (1.2.0) with no request pending for this long is closed, in ms. Default 2,000. */
  readonly sessionIdleMs?: number;
}

export class Libp2pTileSource implements TileSource {
  readonly id: string;
  private readonly timeoutMs: number;
  /** Its connection, negotiated version, session and request slots. */
  private readonly link: TileLink;

  constructor(components: Libp2pTileSourceComponents, init: Libp2pTileSourceInit) {
    this.id = init.id ?? peerName(init.peer);
    this.timeoutMs = init.timeoutMs ?? 10_000;
    const maxConcurrency = init.maxConcurrency ?? 48;
    const sessionIdleMs = init.sessionIdleMs ?? 2_000;
    if (
      !(this.timeoutMs > 0) ||
      !(sessionIdleMs > 0) ||
      !Number.isInteger(maxConcurrency) ||
      maxConcurrency < 1 ||
      maxConcurrency > TILE_SESSION_DEPTH
    )
      throw new RangeError(
        `timeoutMs and sessionIdleMs must be positive, maxConcurrency an integer from 1 to ${TILE_SESSION_DEPTH}`,
      );
    this.link = new TileLink({
      dialer: components.dialer,
      peer: init.peer,
      timeoutMs: this.timeoutMs,
      sessionIdleMs,
      maxConcurrency,
    });
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

  /**
   * One request, on the peer's session or on a stream of its own: the body (status 0), undefined
   * (status 1), or a typed error.
   */
  private async request(
    path: string,
    limit: number,
    signal?: AbortSignal,
    batch?: AbortController,
  ): Promise<Uint8Array | undefined> {
    const request = utf8.encode(path);
    if (request.length > MAX_TILE_REQUEST_BYTES)
      throw new BadTileRequestError(this.id, path, `request over ${MAX_TILE_REQUEST_BYTES} bytes`);
    await this.link.acquire(signal);
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
    let channel: RequestSession | Stream | undefined;
    try {
      channel = await this.link.channel(combined);
      // A session times each answer from its turn (node/network/request-session.ts), not from the request.
      if (channel instanceof RequestSession) clearTimeout(timer);
      const answer =
        channel instanceof RequestSession
          ? await channel.exchange(request, 1 + limit, combined)
          : await exchangeOnStream(channel, request, limit, combined);
      if (answer.byteLength === 0)
        throw new TileSourceError(this.id, 'malformed', `an empty answer, for ${path}`);
      const protocol = channel instanceof RequestSession ? TILES_PROTOCOL_SESSION : channel.protocol;
      const inflateLimit = protocol === TILES_PROTOCOL ? undefined : limit;
      return await this.decode(path, answer[0]!, answer.subarray(1), inflateLimit);
    } catch (err) {
      const timeout = timedOut || err instanceof DeadlineExceededError;
      const error = signal?.aborted ? signal.reason : this.failure(path, limit, err, timeout);
      if (!(channel instanceof RequestSession)) channel?.abort(err as Error);
      batch?.abort(error);
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.link.release();
    }
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
}

/**
 * One request on a stream of its own (1.0.0, 1.1.0): write it, close our side, read the answer (at most
 * `limit` bytes of body), see the stream closed.
 */
async function exchangeOnStream(
  stream: Stream,
  request: Uint8Array,
  limit: number,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const lp = lpStream(stream, { maxDataLength: 1 + limit, maxBufferSize: 1 + limit + MAX_PREFIX_BYTES });
  await lp.write(request, { signal });
  await stream.close({ signal });
  const answer = await lp.read({ signal });
  await endStream(stream, signal);
  return answer.subarray();
}

function peerName(peer: PeerId | Multiaddr): string {
  if ('getComponents' in peer)
    return peer.getComponents().find((c) => c.name === 'p2p')?.value ?? peer.toString();
  return peer.toString();
}
