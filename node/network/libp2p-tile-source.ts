/**
 * A TileSource over the tile exchange protocol (node/network/tile-exchange.ts is the server): one peer's
 * checkpoints and tiles. The first request on a connection proposes `/trustix/tiles/1.2.0`, `1.1.0`, then
 * `1.0.0`. With 1.2.0 the requests to the peer share one stream, a session (node/network/tile-session.ts):
 * no stream to open and no negotiation per request, which under libp2p 3 cost a round trip each. With an
 * older version, each request has a stream of its own, of the version the peer chose. Over 1.1.0 and
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
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { lpStream } from '@libp2p/utils';
import type { Multiaddr } from '@multiformats/multiaddr';
import {
  MAX_NOTE_BYTES,
  MAX_TILE_BYTES,
  MAX_TILE_REQUEST_BYTES,
  TILE_SESSION_DEPTH,
  TILE_STATUS,
  TILES_PROTOCOL,
  TILES_PROTOCOL_SESSION,
  TILES_PROTOCOLS,
} from '../../protocol/constants.ts';
import { MAX_LOG_HOLDERS_BYTES, parseLogHolders } from '../../protocol/log-holders.ts';
import { MAX_PROGRESS_BYTES } from '../../protocol/sync-progress.ts';
import { formatTilePath, type TileId } from '../../protocol/tile-path.ts';
import { BadTileRequestError, DeadlineExceededError, TileSourceError } from '../errors.ts';
import { maxTileBytes, type TileRequestOptions, type TileSource } from '../sync/tile-source.ts';
import { endStream } from './framed-message.ts';
import { TileSession } from './tile-session.ts';

const log = logger('trustix:tile-exchange');
const utf8 = new TextEncoder();
/**
 * Requests in flight to a peer without sessions (1.0.0, 1.1.0: a stream each): below the server's
 * default cap of 32 inbound tile streams per connection, with room for streams still closing.
 */
const STREAM_CONCURRENCY = 24;
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
  /**
   * Time for one request, from dial to the closed stream, in ms; on a session, for each answer from its
   * turn (node/network/tile-session.ts). Default 10,000.
   */
  readonly timeoutMs?: number;
  /**
   * Concurrent requests to this peer on its session, for all the syncs that use it; at most
   * TILE_SESSION_DEPTH (what a server reads ahead). Default 48: a sync's 48 on a lone source
   * (node/sync/source-pool.ts). A peer without sessions gets at most 24, each on a stream of its own.
   */
  readonly maxConcurrency?: number;
  /** A session (1.2.0) with no request pending for this long is closed, in ms. Default 2,000. */
  readonly sessionIdleMs?: number;
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
  /** The peer's 1.2.0 session on `connection`, once a request has opened one. */
  private session: TileSession | undefined;
  /** A first stream being negotiated: the requests that come meanwhile wait for it. */
  private sessionOpening: Promise<void> | undefined;
  private readonly sessionIdleMs: number;
  /** Requests waiting for a slot; release() hands its slot to the first. */
  private readonly waiting: (() => void)[] = [];

  constructor(components: Libp2pTileSourceComponents, init: Libp2pTileSourceInit) {
    this.components = components;
    this.peer = init.peer;
    this.id = init.id ?? peerName(init.peer);
    this.timeoutMs = init.timeoutMs ?? 10_000;
    this.maxConcurrency = init.maxConcurrency ?? 48;
    this.sessionIdleMs = init.sessionIdleMs ?? 2_000;
    if (
      !(this.timeoutMs > 0) ||
      !(this.sessionIdleMs > 0) ||
      !Number.isInteger(this.maxConcurrency) ||
      this.maxConcurrency < 1 ||
      this.maxConcurrency > TILE_SESSION_DEPTH
    )
      throw new RangeError(
        `timeoutMs and sessionIdleMs must be positive, maxConcurrency an integer from 1 to ${TILE_SESSION_DEPTH}`,
      );
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
    let channel: TileSession | Stream | undefined;
    try {
      channel = await this.channel(combined);
      // A session times each answer from its turn (node/network/tile-session.ts), not from the request.
      if (channel instanceof TileSession) clearTimeout(timer);
      const answer =
        channel instanceof TileSession
          ? await channel.exchange(request, 1 + limit, combined)
          : await exchangeOnStream(channel, request, limit, combined);
      if (answer.byteLength === 0)
        throw new TileSourceError(this.id, 'malformed', `an empty answer, for ${path}`);
      const protocol = channel instanceof TileSession ? TILES_PROTOCOL_SESSION : channel.protocol;
      const inflateLimit = protocol === TILES_PROTOCOL ? undefined : limit;
      return await this.decode(path, answer[0]!, answer.subarray(1), inflateLimit);
    } catch (err) {
      const timeout = timedOut || err instanceof DeadlineExceededError;
      const error = signal?.aborted ? signal.reason : this.failure(path, limit, err, timeout);
      if (!(channel instanceof TileSession)) channel?.abort(err as Error);
      batch?.abort(error);
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.release();
    }
  }

  /**
   * Where the next request goes: the peer's open session; else a new stream, which becomes the session
   * when the peer chose 1.2.0. While a first stream negotiates, the other requests wait for it (they
   * would have spent the same round trip), then share its session or open their own streams.
   */
  private async channel(signal: AbortSignal): Promise<TileSession | Stream> {
    while (!(this.session?.open ?? false) && this.sessionOpening !== undefined)
      await abortable(this.sessionOpening, signal);
    if (this.session?.open) return this.session;
    const known = this.connection?.status === 'open' ? this.protocol : undefined;
    if (known !== undefined && known !== TILES_PROTOCOL_SESSION) return this.open(signal);
    const opening = this.open(signal);
    this.sessionOpening = opening.then(
      (stream) => {
        if (stream.protocol !== TILES_PROTOCOL_SESSION) return;
        this.session = new TileSession(stream, {
          idleMs: this.sessionIdleMs,
          answerTimeoutMs: this.timeoutMs,
          closeTimeoutMs: this.timeoutMs,
          maxBufferBytes: 2 * (1 + MAX_TILE_BYTES + MAX_PREFIX_BYTES),
        });
        this.session.start();
        this.admit(); // a session takes more requests at once than streams do
      },
      () => undefined,
    );
    void this.sessionOpening.finally(() => {
      this.sessionOpening = undefined;
    });
    const stream = await opening;
    await this.sessionOpening;
    if (stream.protocol !== TILES_PROTOCOL_SESSION) return stream;
    return this.session ?? stream;
  }

  /**
   * A new tile exchange stream to the peer, on the connection of the last request while it is open. Its
   * version is negotiated in full, a round trip (libp2p 3 ignores `negotiateFully: false`): the first
   * stream proposes every version, the next ones the version the peer chose.
   */
  private async open(signal: AbortSignal): Promise<Stream> {
    let connection = this.connection;
    if (connection === undefined || connection.status !== 'open') {
      connection = await this.components.dialer.dial(this.peer, { signal });
      this.connection = connection;
      this.protocol = undefined;
    }
    // A relayed connection is "limited" (data and time caps set by the relay): tiles may still use it.
    const options = { signal, runOnLimitedConnection: true };
    if (this.protocol !== undefined) return connection.newStream(this.protocol, options);
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

  /**
   * Requests in flight at most: `maxConcurrency` on a session; on streams of their own (an older peer,
   * or before the first negotiation says), no more than STREAM_CONCURRENCY, under the server's cap.
   */
  private cap(): number {
    return this.protocol === TILES_PROTOCOL_SESSION
      ? this.maxConcurrency
      : Math.min(this.maxConcurrency, STREAM_CONCURRENCY);
  }

  private async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.active < this.cap()) {
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
    // Handed a slot by admit(): active already counts it.
  }

  private release(): void {
    this.active--;
    this.admit();
  }

  /** Hands free slots to the requests waiting, first come first served. */
  private admit(): void {
    while (this.active < this.cap() && this.waiting.length > 0) {
      this.active++;
      this.waiting.shift()!();
    }
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

/** `promise`, settled (fulfilled or not), or `signal`'s reason once it aborts first. */
async function abortable(promise: Promise<unknown>, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    promise.then(settle, settle);
  });
}

function peerName(peer: PeerId | Multiaddr): string {
  if ('getComponents' in peer)
    return peer.getComponents().find((c) => c.name === 'p2p')?.value ?? peer.toString();
  return peer.toString();
}
