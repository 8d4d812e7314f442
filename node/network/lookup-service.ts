/**
 * The lookup server: answers `/trustix/lookup/1.0.0` and `1.1.0` (docs/PROTOCOL.md "Lookups") for every
 * log this node holds a full, verified copy of, so that light nodes can vote on a path without mirroring
 * the log. A request is 73 bytes (protocol/lookup.ts), its answer the log's entries for the path below
 * the asked size, each with its inclusion proof in the tree of that size: one of each per stream (1.0.0),
 * or a session of them, answered in order (1.1.0, node/network/request-session-server.ts), which spares
 * the asker a stream's negotiation, a round trip, per lookup.
 *
 * Bounded on every path: the request must arrive within `requestTimeoutMs` and be exactly
 * LOOKUP_REQUEST_BYTES; the answer must be written and the stream closed within `responseTimeoutMs`; at
 * most MAX_LOOKUP_ENTRIES entries per answer (a path with more is answered `tooMany`, as is one whose
 * answer would pass MAX_LOOKUP_RESPONSE_BYTES); libp2p caps concurrent streams per connection
 * (`maxInboundStreams`); a peer over `maxRequestsPerPeer` per `rateWindowMs` is answered `busy`, and so
 * is any request while `maxConcurrent` answers are being built (each costs a few store reads) or while
 * answers made and not yet written hold `maxBytesInFlight` (a session holds up to LOOKUP_SESSION_DEPTH).
 * The client side is node/network/lookup-client.ts.
 */
import type { Connection, Startable, Stream } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { lpStream, RateLimiter } from '@libp2p/utils';
import {
  LOOKUP_MAX_BYTES_IN_FLIGHT,
  LOOKUP_MAX_STREAMS,
  LOOKUP_PROTOCOL_SESSION,
  LOOKUP_PROTOCOLS,
  LOOKUP_RATE_PER_PEER,
  LOOKUP_REQUEST_BUFFER_BYTES,
  LOOKUP_REQUEST_TIMEOUT_MS,
  LOOKUP_SESSION_DEPTH,
  LOOKUP_STATUS,
  LOOKUP_TIMEOUT_MS,
  MAX_LOOKUP_ENTRIES,
} from '../../protocol/constants.ts';
import { TrustixError } from '../../protocol/errors.ts';
import {
  encodeLookupResponse,
  LOOKUP_REQUEST_BYTES,
  type LookupEntry,
  type LookupRequest,
  parseLookupRequest,
} from '../../protocol/lookup.ts';
import { StoppedError } from '../errors.ts';
import type { ProvenEntry } from '../store/log-entries.ts';
import { endStream, isOverLength } from './framed-message.ts';
import type { ProtocolRegistrar } from './protocol-registrar.ts';
import { serveRequestSession } from './request-session-server.ts';

const log = logger('trustix:lookup');

/** What a held log offers to lookups (LogStore is one). */
export interface LookupLog {
  /** The size of the verified copy. */
  readonly size: number;
  indicesForPath(hashPart: string): Promise<number[]>;
  /** The entries at the indices, each with its inclusion proof in the tree of `size`, read at once. */
  provenEntries(indices: readonly number[], size: number): Promise<ProvenEntry[]>;
}

export interface LookupServiceComponents {
  readonly registrar: ProtocolRegistrar;
  /** The logs this node holds a full, verified copy of (its own, its full followed logs). */
  held(logId: string): LookupLog | undefined;
}

export interface LookupServiceInit {
  /** Time for the request to arrive once the stream is open, in ms. Default LOOKUP_REQUEST_TIMEOUT_MS (5,000). */
  readonly requestTimeoutMs?: number;
  /** Time to write the answer and see the stream closed by both ends, in ms. Default LOOKUP_TIMEOUT_MS (10,000). */
  readonly responseTimeoutMs?: number;
  /** Concurrent inbound lookup streams per connection. Default LOOKUP_MAX_STREAMS (32). */
  readonly maxInboundStreams?: number;
  /** Concurrent outbound lookup streams per connection (this node's own client). Default 32. */
  readonly maxOutboundStreams?: number;
  /** Requests one peer may make per rate window; the rest are answered busy. Default LOOKUP_RATE_PER_PEER (2,000). */
  readonly maxRequestsPerPeer?: number;
  /** The rate window, in ms. Default 1,000. */
  readonly rateWindowMs?: number;
  /** Answers being built at once, from all peers; beyond, busy. Default 64. */
  readonly maxConcurrent?: number;
  /** Bytes of answers made and not yet written, all peers; beyond, busy. Default LOOKUP_MAX_BYTES_IN_FLIGHT (32 MiB). */
  readonly maxBytesInFlight?: number;
  /** A session with no request asked nor answer owed for this long is ended, in ms. Default 10,000. */
  readonly sessionIdleMs?: number;
}

/** What one lookup server has answered, by status (for tests and metrics). */
export type LookupCounts = Record<keyof typeof LOOKUP_STATUS, number>;

export class LookupService implements Startable {
  private readonly components: LookupServiceComponents;
  private readonly init: Required<LookupServiceInit>;
  private limiter: RateLimiter | undefined;
  private building = 0;
  private bytesInFlight = 0;
  private readonly active = new Set<Stream>();
  readonly counts: LookupCounts = { ok: 0, notHeld: 0, badRequest: 0, busy: 0, tooMany: 0 };

  constructor(components: LookupServiceComponents, init: LookupServiceInit = {}) {
    this.components = components;
    this.init = {
      requestTimeoutMs: LOOKUP_REQUEST_TIMEOUT_MS,
      responseTimeoutMs: LOOKUP_TIMEOUT_MS,
      maxInboundStreams: LOOKUP_MAX_STREAMS,
      maxOutboundStreams: LOOKUP_MAX_STREAMS,
      maxRequestsPerPeer: LOOKUP_RATE_PER_PEER,
      rateWindowMs: 1_000,
      maxConcurrent: 64,
      maxBytesInFlight: LOOKUP_MAX_BYTES_IN_FLIGHT,
      sessionIdleMs: 10_000,
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
    for (const protocol of LOOKUP_PROTOCOLS)
      await this.components.registrar.handle(
        protocol,
        (stream, connection) => this.serve(stream, connection),
        {
          maxInboundStreams: this.init.maxInboundStreams,
          maxOutboundStreams: this.init.maxOutboundStreams,
          runOnLimitedConnection: true,
        },
      );
    this.limiter = limiter;
    log('serving %s', LOOKUP_PROTOCOLS.join(', '));
  }

  async stop(): Promise<void> {
    if (this.limiter === undefined) return;
    this.limiter = undefined;
    for (const protocol of LOOKUP_PROTOCOLS) await this.components.registrar.unhandle(protocol);
    for (const stream of this.active) stream.abort(new StoppedError('lookup service stopped'));
    this.active.clear();
  }

  /**
   * One stream: a request and its answer (1.0.0) or a session of them (1.1.0). Never throws: a failed
   * stream is aborted.
   */
  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    this.active.add(stream);
    try {
      if (stream.protocol === LOOKUP_PROTOCOL_SESSION) await this.serveSession(stream, peer);
      else await this.serveOne(stream, peer);
    } catch (err) {
      log('lookup stream from %s aborted: %s', peer, (err as Error).message);
      stream.abort(err as Error);
    } finally {
      this.active.delete(stream);
    }
  }

  /** 1.0.0: read the request, answer, close. */
  private async serveOne(stream: Stream, peer: string): Promise<void> {
    // A request is exactly LOOKUP_REQUEST_BYTES; a little slack so that a longer one gets its status 2.
    const lp = lpStream(stream, { maxDataLength: 1024, maxBufferSize: LOOKUP_REQUEST_BUFFER_BYTES });
    let response: Uint8Array;
    try {
      const request = await lp.read({ signal: AbortSignal.timeout(this.init.requestTimeoutMs) });
      response = await this.respond(request.subarray(), peer);
    } catch (err) {
      if (!isOverLength(err)) throw err;
      response = this.status('badRequest');
    }
    response = this.reserve(response);
    try {
      const signal = AbortSignal.timeout(this.init.responseTimeoutMs);
      await lp.write(response, { signal });
      await endStream(stream, signal);
    } finally {
      this.bytesInFlight -= response.length;
    }
  }

  /** 1.1.0: a session (node/network/request-session-server.ts). */
  private serveSession(stream: Stream, peer: string): Promise<void> {
    return serveRequestSession(stream, {
      ...this.init,
      // As 1.0.0: a little slack over LOOKUP_REQUEST_BYTES, so that a longer one gets its status 2.
      maxRequestBytes: 1024,
      depth: LOOKUP_SESSION_DEPTH,
      maxBufferBytes: LOOKUP_REQUEST_BUFFER_BYTES,
      answer: async (request) => this.reserve(await this.respond(request, peer)),
      overLength: () => this.reserve(this.status('badRequest')),
      release: (bytes) => {
        this.bytesInFlight -= bytes;
      },
    });
  }

  /**
   * The answer to send for `response`, its bytes counted in flight until written: busy instead when they
   * would take the answers made and not yet written past maxBytesInFlight.
   */
  private reserve(response: Uint8Array): Uint8Array {
    if (this.bytesInFlight + response.length > this.init.maxBytesInFlight) {
      log('lookup answers in flight over %d bytes: busy', this.init.maxBytesInFlight);
      if (response[0] === LOOKUP_STATUS.ok) this.counts.ok--;
      response = this.status('busy');
    }
    this.bytesInFlight += response.length;
    return response;
  }

  private status(name: keyof typeof LOOKUP_STATUS): Uint8Array {
    this.counts[name]++;
    return Uint8Array.of(LOOKUP_STATUS[name]);
  }

  /** The answer to one request. Throws only for store failures. */
  private async respond(bytes: Uint8Array, peer: string): Promise<Uint8Array> {
    const limiter = this.limiter;
    if (limiter === undefined) throw new StoppedError('lookup service stopped');
    try {
      limiter.consume(peer);
    } catch (err) {
      if ((err as Error).name !== 'RateLimitError') throw err;
      log('peer %s is over %d lookups per %d ms', peer, this.init.maxRequestsPerPeer, this.init.rateWindowMs);
      return this.status('busy');
    }
    let request: LookupRequest;
    try {
      if (bytes.length !== LOOKUP_REQUEST_BYTES) return this.status('badRequest');
      request = parseLookupRequest(bytes);
    } catch (err) {
      if (!(err instanceof TrustixError)) throw err;
      return this.status('badRequest');
    }
    const store = this.components.held(request.logId);
    if (store === undefined || store.size < request.size) return this.status('notHeld');
    if (this.building >= this.init.maxConcurrent) return this.status('busy');
    this.building++;
    try {
      // The first MAX_PATH_ENTRIES + 1 entries of the path, oldest first: enough to tell "too many".
      const below = (await store.indicesForPath(request.hashPart)).filter((i) => i < request.size);
      if (below.length > MAX_LOOKUP_ENTRIES) return this.status('tooMany');
      // Two reads in all: the path's index, then its entries' bundles and their proofs' tiles together.
      const entries: LookupEntry[] = await store.provenEntries(below, request.size);
      try {
        const answer = encodeLookupResponse({ status: LOOKUP_STATUS.ok, entries });
        this.counts.ok++;
        return answer;
      } catch (err) {
        // Entries of up to 64 KiB each may pass the answer's cap: too many to send, like > 64 entries.
        if (!(err instanceof TrustixError)) throw err;
        return this.status('tooMany');
      }
    } finally {
      this.building--;
    }
  }
}

/** The js-libp2p style factory: `lookupService(init)(components)`, as libp2p's `services` take them. */
export function lookupService(
  init: LookupServiceInit = {},
): (components: LookupServiceComponents) => LookupService {
  return (components) => new LookupService(components, init);
}
