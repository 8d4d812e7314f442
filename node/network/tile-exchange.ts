/**
 * The tile exchange server: every log the node holds, served over `/trustix/tiles/1.2.0`, `1.1.0` and
 * `1.0.0` (docs/PROTOCOL.md "Tile exchange"). Over 1.0.0 and 1.1.0, one request per stream, one
 * length-prefixed message each way: the request is the UTF-8 path `<logID>/checkpoint` or
 * `<logID>/tile/...` (the grammar of the HTTP routes, protocol/log-resource.ts); the response is a status
 * byte (TILE_STATUS) and the body. Over 1.2.0 a stream carries a session of such requests, answered in
 * order (node/network/request-session-server.ts). Over 1.1.0 and 1.2.0 an entry bundle may go out deflated
 * (status 4, node/network/bundle-deflater.ts).
 *
 * Bounded on every path: the request must arrive within `requestTimeoutMs` and fit `maxRequestBytes`;
 * the answer must be written and the stream closed by both ends within `responseTimeoutMs`; libp2p caps
 * concurrent streams per connection (`maxInboundStreams`, for both versions together); a peer over `maxRequestsPerPeer` per
 * `rateWindowMs` gets status 3 (busy), and so does any peer of an IP subnet (IPv4 /24, IPv6 /48) over
 * `maxRequestsPerSubnet` (peer IDs cost nothing: the subnet is what a keyless attacker pays for), and any
 * request whose answer would take the bytes being written past `maxBytesInFlight` (or the peer's past
 * `maxBytesInFlightPerPeer`). Loopback peers are
 * exempt from the subnet budget unless `limitLoopback` (tests run many nodes on 127.0.0.1). Entry bundles
 * of one log go to a few peers at a time, and to a few new peers per window (node/network/upload-slots.ts):
 * the others are told busy and fetch from those, whom `<logID>/holders` names (protocol/log-holders.ts).
 * Any other failure (timeout, reset, a store error) aborts the stream.
 * Beyond the tree it holds, a node serves the tiles its sync under way has verified against the sync's
 * signed target, and says at `<logID>/progress` how far that is (protocol/sync-progress.ts).
 * The client side is node/network/libp2p-tile-source.ts. What the server is given and its settings are
 * node/network/tile-exchange-init.ts; the answer to one request, node/network/tile-answer.ts.
 */
import {
  type Connection,
  type Startable,
  type Stream,
  TooManyInboundProtocolStreamsError,
} from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { lpStream, RateLimiter } from '@libp2p/utils';
import {
  TILE_REQUEST_BUFFER_BYTES,
  TILE_SESSION_DEPTH,
  TILE_STATUS,
  TILES_PROTOCOL_DEFLATE,
  TILES_PROTOCOL_SESSION,
  TILES_PROTOCOLS,
} from '../../protocol/constants.ts';
import { StoppedError } from '../errors.ts';
import { BundleDeflater } from './bundle-deflater.ts';
import { endStream, isOverLength } from './framed-message.ts';
import { serveRequestSession } from './request-session-server.ts';
import { subnetOf } from './subnet.ts';
import { answerTileRequest, statusOnly } from './tile-answer.ts';
import {
  TILE_EXCHANGE_DEFAULTS,
  type TileExchangeComponents,
  type TileExchangeInit,
  type TileExchangeSettings,
} from './tile-exchange-init.ts';
import { UploadSlots } from './upload-slots.ts';

const log = logger('trustix:tile-exchange');

export class TileExchange implements Startable {
  private readonly components: TileExchangeComponents;
  private readonly init: TileExchangeSettings;
  private readonly limitLoopback: boolean;
  private readonly deflater: BundleDeflater;
  private readonly uploads: UploadSlots;
  private limiter: RateLimiter | undefined;
  private subnets: RateLimiter | undefined;
  private bytesInFlight = 0;
  /** Bytes in flight per peer (maxBytesInFlightPerPeer): peers with none are not kept. */
  private readonly peerBytesInFlight = new Map<string, number>();
  /** Streams being served, aborted by stop(). */
  private readonly active = new Set<Stream>();
  /** Streams being served per connection: libp2p caps each protocol's, this both versions' together. */
  private readonly perConnection = new Map<string, number>();

  constructor(components: TileExchangeComponents, init: TileExchangeInit = {}) {
    const { limitLoopback, deflate, uploads, ...numbers } = init;
    this.components = components;
    this.init = { ...TILE_EXCHANGE_DEFAULTS, ...numbers };
    this.limitLoopback = limitLoopback ?? false;
    this.deflater = new BundleDeflater(deflate);
    this.uploads = new UploadSlots(uploads);
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
    this.subnets = new RateLimiter({
      points: this.init.maxRequestsPerSubnet,
      duration: this.init.rateWindowMs / 1000,
      keyPrefix: '',
    });
    for (const protocol of TILES_PROTOCOLS)
      await this.components.registrar.handle(
        protocol,
        (stream, connection) => this.serve(stream, connection),
        {
          maxInboundStreams: this.init.maxInboundStreams,
          maxOutboundStreams: this.init.maxOutboundStreams,
          // Served over relayed connections too: the relay's limits bound them (docs/ARCHITECTURE.md).
          runOnLimitedConnection: true,
        },
      );
    this.limiter = limiter;
    log('serving %s', TILES_PROTOCOLS.join(', '));
  }

  /** Unregisters the protocol (peers get protocol-not-supported) and aborts the streams being served. */
  async stop(): Promise<void> {
    if (this.limiter === undefined) return;
    this.limiter = undefined;
    for (const protocol of TILES_PROTOCOLS) await this.components.registrar.unhandle(protocol);
    for (const stream of this.active) stream.abort(new StoppedError('tile exchange stopped'));
    this.active.clear();
    this.deflater.clear();
    this.uploads.clear();
    log('stopped serving %s', TILES_PROTOCOLS.join(', '));
  }

  /**
   * One stream: a request and its answer (1.0.0, 1.1.0) or a session of them (1.2.0). Never throws: a
   * failed stream is aborted.
   */
  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    const open = (this.perConnection.get(connection.id) ?? 0) + 1;
    if (open > this.init.maxInboundStreams) {
      log('%s is over %d tile streams on one connection', peer, this.init.maxInboundStreams);
      stream.abort(
        new TooManyInboundProtocolStreamsError(`over ${this.init.maxInboundStreams} tile streams`),
      );
      return;
    }
    this.perConnection.set(connection.id, open);
    const subnet = subnetOf(connection.remoteAddr.toString(), this.limitLoopback);
    this.active.add(stream);
    try {
      if (stream.protocol === TILES_PROTOCOL_SESSION) await this.serveSession(stream, peer, subnet);
      else await this.serveOne(stream, peer, subnet);
    } catch (err) {
      log('stream from %s aborted: %s', peer, (err as Error).message);
      stream.abort(err as Error);
    } finally {
      this.active.delete(stream);
      const left = (this.perConnection.get(connection.id) ?? 1) - 1;
      if (left > 0) this.perConnection.set(connection.id, left);
      else this.perConnection.delete(connection.id);
    }
  }

  /** 1.0.0 and 1.1.0: read the request, answer, close. */
  private async serveOne(stream: Stream, peer: string, subnet: string | undefined): Promise<void> {
    const lp = lpStream(stream, {
      maxDataLength: this.init.maxRequestBytes,
      maxBufferSize: TILE_REQUEST_BUFFER_BYTES,
    });
    let response: Uint8Array;
    try {
      const request = await lp.read({ signal: AbortSignal.timeout(this.init.requestTimeoutMs) });
      const deflate = stream.protocol === TILES_PROTOCOL_DEFLATE;
      response = await this.respond(request.subarray(), peer, subnet, deflate);
    } catch (err) {
      if (!isOverLength(err)) throw err;
      log('request from %s over %d bytes', peer, this.init.maxRequestBytes);
      response = statusOnly(TILE_STATUS.badRequest);
    }
    response = this.reserve(response, peer);
    try {
      const signal = AbortSignal.timeout(this.init.responseTimeoutMs);
      await lp.write(response, { signal });
      await endStream(stream, signal);
    } finally {
      this.release(response.length, peer);
    }
  }

  /** 1.2.0, a session (node/network/request-session-server.ts). */
  private serveSession(stream: Stream, peer: string, subnet: string | undefined): Promise<void> {
    return serveRequestSession(stream, {
      ...this.init,
      depth: TILE_SESSION_DEPTH,
      maxBufferBytes: TILE_REQUEST_BUFFER_BYTES,
      answer: async (request) => this.reserve(await this.respond(request, peer, subnet, true), peer),
      overLength: () => {
        log('request from %s over %d bytes: the session ends', peer, this.init.maxRequestBytes);
        return this.reserve(statusOnly(TILE_STATUS.badRequest), peer);
      },
      release: (bytes) => this.release(bytes, peer),
    });
  }

  /**
   * The answer to send for `response`, its bytes counted in flight (the caller gives them back once
   * written, `release`): busy instead when they would take the bytes in flight past maxBytesInFlight, or
   * the peer's past maxBytesInFlightPerPeer (a session holds up to TILE_SESSION_DEPTH answers made and
   * not yet written: one peer reading slowly must not take the whole budget).
   */
  private reserve(response: Uint8Array, peer: string): Uint8Array {
    const held = this.peerBytesInFlight.get(peer) ?? 0;
    if (this.bytesInFlight + response.length > this.init.maxBytesInFlight) {
      log('answers in flight over %d bytes: %s is told busy', this.init.maxBytesInFlight, peer);
      response = statusOnly(TILE_STATUS.busy);
    } else if (held + response.length > this.init.maxBytesInFlightPerPeer) {
      log('answers in flight to %s over %d bytes: told busy', peer, this.init.maxBytesInFlightPerPeer);
      response = statusOnly(TILE_STATUS.busy);
    }
    this.bytesInFlight += response.length;
    this.peerBytesInFlight.set(peer, held + response.length);
    return response;
  }

  /** Gives back the bytes of an answer to `peer` written or dropped. */
  private release(bytes: number, peer: string): void {
    this.bytesInFlight -= bytes;
    const left = (this.peerBytesInFlight.get(peer) ?? bytes) - bytes;
    if (left > 0) this.peerBytesInFlight.set(peer, left);
    else this.peerBytesInFlight.delete(peer);
  }

  /** The response message (status byte + body) to one request (node/network/tile-answer.ts). */
  private async respond(
    request: Uint8Array,
    peer: string,
    subnet: string | undefined,
    deflate: boolean,
  ): Promise<Uint8Array> {
    const limiter = this.limiter;
    if (limiter === undefined || this.subnets === undefined) throw new StoppedError('tile exchange stopped');
    const answering = {
      init: this.init,
      limiter,
      subnets: this.subnets,
      logs: this.components.logs,
      uploads: this.uploads,
      deflater: this.deflater,
    };
    return answerTileRequest(answering, request, peer, subnet, deflate);
  }
}
