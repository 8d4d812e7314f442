/**
 * The tile exchange server: every log the node holds, served over `/trustix/tiles/1.0.0` (DESIGN.md
 * section 4, docs/PROTOCOL.md "Tile exchange"). One request per stream, one length-prefixed message each
 * way: the request is the UTF-8 path `<logID>/checkpoint` or `<logID>/tile/...` (the grammar of the HTTP
 * routes, node/routes/logs.ts parseLogResource); the response is a status byte (TILE_STATUS) and the body.
 *
 * Bounded on every path: the request must arrive within `requestTimeoutMs` and fit `maxRequestBytes`;
 * the answer must be written and the stream closed by both ends within `responseTimeoutMs`; libp2p caps
 * concurrent streams per connection (`maxInboundStreams`); a peer over `maxRequestsPerPeer` per
 * `rateWindowMs` gets status 3 (busy). Any other failure (timeout, reset, a store error) aborts the stream.
 * The client side is node/network/libp2p-tile-source.ts.
 */
import type { Connection, Startable, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { lpStream, RateLimiter } from '@libp2p/utils';
import { MAX_TILE_REQUEST_BYTES, TILE_STATUS, TILES_PROTOCOL } from '../../protocol/constants.ts';
import { MalformedError, OutOfRangeError } from '../../protocol/errors.ts';
import { boundedText } from '../../protocol/utf8.ts';
import { parseLogResource } from '../routes/logs.ts';
import type { LogDirectory } from '../store/log-reader.ts';

const log = logger('trustix:tile-exchange');

/** Where a protocol handler is registered: the libp2p node, or its registrar. */
export interface ProtocolRegistrar {
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>;
  unhandle(protocol: string): Promise<void>;
}

export interface TileExchangeComponents {
  readonly registrar: ProtocolRegistrar;
  /** The logs served: every log the node holds. */
  readonly logs: LogDirectory;
}

export interface TileExchangeInit {
  /** Time for the request to arrive once the stream is open, in ms. Default 5,000. */
  readonly requestTimeoutMs?: number;
  /** Time to write the answer and see the stream closed by both ends, in ms. Default 30,000. */
  readonly responseTimeoutMs?: number;
  /** Concurrent inbound tile streams per connection; libp2p resets the excess. Default 32. */
  readonly maxInboundStreams?: number;
  /**
   * Concurrent outbound tile streams per connection (this node's own clients; libp2p refuses more).
   * Default 32, the inbound default: more would only be reset by a peer with default settings.
   */
  readonly maxOutboundStreams?: number;
  /** Requests one peer may make per rate window; the rest get status 3 (busy). Default 1,000. */
  readonly maxRequestsPerPeer?: number;
  /** The rate window, in ms. Default 1,000. */
  readonly rateWindowMs?: number;
  /** Longest request accepted; longer ones get status 2. Default MAX_TILE_REQUEST_BYTES (256). */
  readonly maxRequestBytes?: number;
}

/**
 * Bytes a request stream may buffer before libp2p's byte stream resets it. Above maxRequestBytes so a
 * request that is somewhat too long still gets its status 2; a flood is cut off here.
 */
const REQUEST_BUFFER_BYTES = 64 * 1024;

const statusOnly = (status: number): Uint8Array => Uint8Array.of(status);

export class TileExchange implements Startable {
  private readonly components: TileExchangeComponents;
  private readonly init: Required<TileExchangeInit>;
  private limiter: RateLimiter | undefined;
  /** Streams being served, aborted by stop(). */
  private readonly active = new Set<Stream>();

  constructor(components: TileExchangeComponents, init: TileExchangeInit = {}) {
    this.components = components;
    this.init = {
      requestTimeoutMs: 5_000,
      responseTimeoutMs: 30_000,
      maxInboundStreams: 32,
      maxOutboundStreams: 32,
      maxRequestsPerPeer: 1_000,
      rateWindowMs: 1_000,
      maxRequestBytes: MAX_TILE_REQUEST_BYTES,
      ...init,
    };
    for (const [name, value] of Object.entries(this.init))
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }

  isStarted(): boolean {
    return this.limiter !== undefined;
  }

  async start(): Promise<void> {
    if (this.limiter !== undefined) return;
    const limiter = new RateLimiter({
      points: this.init.maxRequestsPerPeer,
      duration: this.init.rateWindowMs / 1000,
      keyPrefix: '',
    });
    await this.components.registrar.handle(
      TILES_PROTOCOL,
      (stream, connection) => this.serve(stream, connection),
      {
        maxInboundStreams: this.init.maxInboundStreams,
        maxOutboundStreams: this.init.maxOutboundStreams,
        // Served over relayed connections too: the relay's limits bound them (docs/ARCHITECTURE.md).
        runOnLimitedConnection: true,
      },
    );
    this.limiter = limiter;
    log('serving %s', TILES_PROTOCOL);
  }

  /** Unregisters the protocol (peers get protocol-not-supported) and aborts the streams being served. */
  async stop(): Promise<void> {
    if (this.limiter === undefined) return;
    this.limiter = undefined;
    await this.components.registrar.unhandle(TILES_PROTOCOL);
    for (const stream of this.active) stream.abort(new Error('tile exchange stopped'));
    this.active.clear();
    log('stopped serving %s', TILES_PROTOCOL);
  }

  /** One stream: read the request, answer, close. Never throws: a failed stream is aborted. */
  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    this.active.add(stream);
    const lp = lpStream(stream, {
      maxDataLength: this.init.maxRequestBytes,
      maxBufferSize: REQUEST_BUFFER_BYTES,
    });
    try {
      let response: Uint8Array;
      try {
        const request = await lp.read({ signal: AbortSignal.timeout(this.init.requestTimeoutMs) });
        response = await this.respond(request.subarray(), peer);
      } catch (err) {
        if (!isOverLength(err)) throw err;
        log('request from %s over %d bytes', peer, this.init.maxRequestBytes);
        response = statusOnly(TILE_STATUS.badRequest);
      }
      const signal = AbortSignal.timeout(this.init.responseTimeoutMs);
      await lp.write(response, { signal });
      await endStream(stream, signal);
    } catch (err) {
      log('stream from %s aborted: %s', peer, (err as Error).message);
      stream.abort(err as Error);
    } finally {
      this.active.delete(stream);
    }
  }

  /** The response message (status byte + body) to one request. Throws only for store failures. */
  private async respond(request: Uint8Array, peer: string): Promise<Uint8Array> {
    const limiter = this.limiter;
    if (limiter === undefined) throw new Error('tile exchange stopped');
    try {
      limiter.consume(peer);
    } catch (err) {
      if ((err as Error).name !== 'RateLimitError') throw err;
      log(
        'peer %s is over %d requests per %d ms',
        peer,
        this.init.maxRequestsPerPeer,
        this.init.rateWindowMs,
      );
      return statusOnly(TILE_STATUS.busy);
    }
    let path: string;
    let resource: ReturnType<typeof parseLogResource>;
    try {
      path = boundedText(request, 'tile request', this.init.maxRequestBytes);
      resource = parseLogResource(path);
    } catch (err) {
      if (!(err instanceof MalformedError || err instanceof OutOfRangeError)) throw err;
      log('bad request from %s: %s', peer, err.message);
      return statusOnly(TILE_STATUS.badRequest);
    }
    // Another resource name under a log: not found, as over HTTP.
    if (resource === undefined) return statusOnly(TILE_STATUS.notFound);
    const reader = this.components.logs.get(resource.logId);
    let body: Uint8Array | undefined;
    try {
      body = resource.tile === undefined ? reader?.checkpoint()?.note : await reader?.readTile(resource.tile);
    } catch (err) {
      log.error('reading %s for %s failed: %e', path, peer, err);
      throw err;
    }
    if (body === undefined) return statusOnly(TILE_STATUS.notFound);
    const response = new Uint8Array(1 + body.length);
    response[0] = TILE_STATUS.ok;
    response.set(body, 1);
    return response;
  }
}

/** A length prefix over the cap (libp2p's lpStream errors for the length or its varint). */
function isOverLength(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  return name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError';
}

/**
 * Closes our end of `stream` and waits until the remote has closed theirs (the stream is then gone
 * from the connection), rejecting with `signal`'s reason if that takes too long. The caller aborts.
 */
export async function endStream(stream: Stream, signal: AbortSignal): Promise<void> {
  await stream.close({ signal });
  if (stream.status !== 'open' && stream.status !== 'closing') return;
  signal.throwIfAborted();
  await new Promise<void>((resolve, reject) => {
    const onClose = () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      stream.removeEventListener('close', onClose);
      reject(signal.reason);
    };
    stream.addEventListener('close', onClose, { once: true });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
