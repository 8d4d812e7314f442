/**
 * What the tile exchange server (node/network/tile-exchange.ts) is given and its settings with their
 * defaults (docs/PROTOCOL.md "Tile exchange"): apart from the service so that the answer to a request
 * (node/network/tile-answer.ts) reads the same settings without importing the service, and those who set
 * them (the node's network side, the tests) need none of its workings.
 */
import { MAX_TILE_REQUEST_BYTES } from '../../protocol/constants.ts';
import type { LogDirectory } from '../store/log-reader.ts';
import type { BundleDeflaterInit } from './bundle-deflater.ts';
import type { ProtocolRegistrar } from './protocol-registrar.ts';
import type { UploadSlotsInit } from './upload-slots.ts';

export interface TileExchangeComponents {
  readonly registrar: ProtocolRegistrar;
  /** The logs served: every log the node holds. */
  readonly logs: LogDirectory;
}

export interface TileExchangeInit {
  /** Time for the request to arrive once the stream is open, in ms. Default 5,000. */
  readonly requestTimeoutMs?: number;
  /**
   * A session (1.2.0) with no request for this long ends (once its answers are written), in ms. Default
   * 10,000: above a client's own idle time (2 s by default), which closes its side first.
   */
  readonly sessionIdleMs?: number;
  /** Time to write the answer and see the stream closed by both ends, in ms. Default 30,000. */
  readonly responseTimeoutMs?: number;
  /** Concurrent inbound tile streams per connection, both versions together; the excess is reset. Default 32. */
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
  /** Requests all peers of one IP subnet may make per rate window; the rest get busy. Default 4,000. */
  readonly maxRequestsPerSubnet?: number;
  /** Bytes of answers being written at once, to all peers; beyond, busy. Default 64 MiB. */
  readonly maxBytesInFlight?: number;
  /**
   * Bytes of answers being written at once to one peer; beyond, busy. Default 8 MiB: 48 entry bundles as
   * stored (a lone source's deepest pipeline, node/sync/delivery-rate.ts) of the benchmark's entries.
   */
  readonly maxBytesInFlightPerPeer?: number;
  /** Apply the subnet budget to loopback peers too. Default false. */
  readonly limitLoopback?: boolean;
  /** Deflating entry bundles for 1.1.0 clients (node/network/bundle-deflater.ts). */
  readonly deflate?: BundleDeflaterInit;
  /** The peers served one log's entry bundles at once (node/network/upload-slots.ts). */
  readonly uploads?: UploadSlotsInit;
}

/** A TileExchangeInit's numbers, none left out (limitLoopback, deflate and uploads are kept apart). */
export type TileExchangeSettings = Required<Omit<TileExchangeInit, 'limitLoopback' | 'deflate' | 'uploads'>>;

/** The numbers a TileExchangeInit leaves out. */
export const TILE_EXCHANGE_DEFAULTS: TileExchangeSettings = {
  requestTimeoutMs: 5_000,
  sessionIdleMs: 10_000,
  responseTimeoutMs: 30_000,
  maxInboundStreams: 32,
  maxOutboundStreams: 32,
  maxRequestsPerPeer: 1_000,
  rateWindowMs: 1_000,
  maxRequestBytes: MAX_TILE_REQUEST_BYTES,
  maxRequestsPerSubnet: 4_000,
  maxBytesInFlight: 64 * 1024 * 1024,
  maxBytesInFlightPerPeer: 8 * 1024 * 1024,
};
