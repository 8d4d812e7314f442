/**
 * The checkpoint catch-up server: answers `/trustix/checkpoints/1.0.0` (docs/PROTOCOL.md "Checkpoint
 * catch-up") with the newest checkpoints this node's monitor knows of the logs asked for, so that a node
 * that joins after they were gossiped learns them from whoever it connects to (gossip does not repeat a
 * checkpoint to it: to every node that has it, a republish is a duplicate and is not forwarded).
 * One request per stream: the request (protocol/checkpoint-catchup.ts), then one answer.
 *
 * Bounded on every path: the request must arrive within `requestTimeoutMs` and name at most
 * MAX_CATCHUP_LOGS logs; the answer is at most MAX_CATCHUP_RESPONSE_BYTES (what does not fit is left
 * out) and must be written and the stream closed within `responseTimeoutMs`; libp2p caps concurrent
 * streams per connection (`maxInboundStreams`); a peer over `maxRequestsPerPeer` per `rateWindowMs` is
 * answered `busy`, and so is any request while `maxConcurrent` answers are being built.
 * The asking side is node/network/catchup-client.ts.
 */
import type { Connection, Startable, Stream } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { lpStream, RateLimiter } from '@libp2p/utils';
import { encodeCatchupResponse, parseCatchupRequest } from '../../protocol/checkpoint-catchup.ts';
import {
  CATCHUP_MAX_STREAMS,
  CATCHUP_PROTOCOL,
  CATCHUP_RATE_PER_PEER,
  CATCHUP_RATE_WINDOW_MS,
  CATCHUP_REQUEST_TIMEOUT_MS,
  CATCHUP_STATUS,
  CATCHUP_TIMEOUT_MS,
  HASH_SIZE,
  MAX_CATCHUP_LOGS,
} from '../../protocol/constants.ts';
import { TrustixError } from '../../protocol/errors.ts';
import { StoppedError } from '../errors.ts';
import { endStream, isOverLength } from './framed-message.ts';
import type { ProtocolRegistrar } from './protocol-registrar.ts';

const log = logger('trustix:catchup');

export interface CatchupServiceComponents {
  readonly registrar: ProtocolRegistrar;
  /** The checkpoint messages to tell of a log (CheckpointMonitor.catchupMessages); none if unknown. */
  checkpoints(logId: string): Promise<Uint8Array[]>;
}

export interface CatchupServiceInit {
  /** Time for the request to arrive once the stream is open, in ms. Default CATCHUP_REQUEST_TIMEOUT_MS (5,000). */
  readonly requestTimeoutMs?: number;
  /** Time to write the answer and see the stream closed by both ends, in ms. Default CATCHUP_TIMEOUT_MS (10,000). */
  readonly responseTimeoutMs?: number;
  /** Concurrent inbound catch-up streams per connection. Default CATCHUP_MAX_STREAMS (4). */
  readonly maxInboundStreams?: number;
  /** Concurrent outbound catch-up streams per connection (this node's own asks). Default CATCHUP_MAX_STREAMS (4). */
  readonly maxOutboundStreams?: number;
  /** Requests one peer may make per rate window; the rest are answered busy. Default CATCHUP_RATE_PER_PEER (16). */
  readonly maxRequestsPerPeer?: number;
  /** The rate window, in ms. Default CATCHUP_RATE_WINDOW_MS (60,000). */
  readonly rateWindowMs?: number;
  /** Answers being built at once, from all peers; beyond, busy. Default 8. */
  readonly maxConcurrent?: number;
}

/** What one catch-up server has answered, by status (for tests and metrics). */
export type CatchupCounts = Record<keyof typeof CATCHUP_STATUS, number>;

export class CatchupService implements Startable {
  private readonly components: CatchupServiceComponents;
  private readonly init: Required<CatchupServiceInit>;
  private limiter: RateLimiter | undefined;
  private building = 0;
  private readonly active = new Set<Stream>();
  readonly counts: CatchupCounts = { ok: 0, badRequest: 0, busy: 0 };

  constructor(components: CatchupServiceComponents, init: CatchupServiceInit = {}) {
    this.components = components;
    this.init = {
      requestTimeoutMs: CATCHUP_REQUEST_TIMEOUT_MS,
      responseTimeoutMs: CATCHUP_TIMEOUT_MS,
      maxInboundStreams: CATCHUP_MAX_STREAMS,
      maxOutboundStreams: CATCHUP_MAX_STREAMS,
      maxRequestsPerPeer: CATCHUP_RATE_PER_PEER,
      rateWindowMs: CATCHUP_RATE_WINDOW_MS,
      maxConcurrent: 8,
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
      CATCHUP_PROTOCOL,
      (stream, connection) => this.serve(stream, connection),
      {
        maxInboundStreams: this.init.maxInboundStreams,
        maxOutboundStreams: this.init.maxOutboundStreams,
        // Checkpoints are small: they travel over relayed (limited) connections, as gossip does.
        runOnLimitedConnection: true,
      },
    );
    this.limiter = limiter;
    log('serving %s', CATCHUP_PROTOCOL);
  }

  async stop(): Promise<void> {
    if (this.limiter === undefined) return;
    this.limiter = undefined;
    await this.components.registrar.unhandle(CATCHUP_PROTOCOL);
    for (const stream of this.active) stream.abort(new StoppedError('catch-up service stopped'));
    this.active.clear();
  }

  /** One stream: read the request, answer, close. Never throws: a failed stream is aborted. */
  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    this.active.add(stream);
    const max = 3 + HASH_SIZE * MAX_CATCHUP_LOGS;
    const lp = lpStream(stream, { maxDataLength: max, maxBufferSize: max + 8 });
    try {
      let response: Uint8Array;
      try {
        const request = await lp.read({ signal: AbortSignal.timeout(this.init.requestTimeoutMs) });
        response = await this.respond(request.subarray(), peer);
      } catch (err) {
        if (!isOverLength(err)) throw err;
        response = this.status('badRequest');
      }
      const signal = AbortSignal.timeout(this.init.responseTimeoutMs);
      await lp.write(response, { signal });
      await endStream(stream, signal);
    } catch (err) {
      log('catch-up stream from %s aborted: %s', peer, (err as Error).message);
      stream.abort(err as Error);
    } finally {
      this.active.delete(stream);
    }
  }

  private status(name: Exclude<keyof typeof CATCHUP_STATUS, 'ok'>): Uint8Array {
    this.counts[name]++;
    return Uint8Array.of(CATCHUP_STATUS[name]);
  }

  /** The answer to one request. Throws only for store failures. */
  private async respond(bytes: Uint8Array, peer: string): Promise<Uint8Array> {
    const limiter = this.limiter;
    if (limiter === undefined) throw new StoppedError('catch-up service stopped');
    try {
      limiter.consume(peer);
    } catch (err) {
      if ((err as Error).name !== 'RateLimitError') throw err;
      log(
        'peer %s is over %d catch-ups per %d ms',
        peer,
        this.init.maxRequestsPerPeer,
        this.init.rateWindowMs,
      );
      return this.status('busy');
    }
    let logIds: string[];
    try {
      logIds = parseCatchupRequest(bytes);
    } catch (err) {
      if (!(err instanceof TrustixError)) throw err;
      return this.status('badRequest');
    }
    if (this.building >= this.init.maxConcurrent) return this.status('busy');
    this.building++;
    try {
      const messages: Uint8Array[] = [];
      for (const id of logIds) messages.push(...(await this.components.checkpoints(id)));
      this.counts.ok++;
      return encodeCatchupResponse({ status: CATCHUP_STATUS.ok, messages });
    } finally {
      this.building--;
    }
  }
}

/** The js-libp2p style factory: `catchupService(init)(components)`, as libp2p's `services` take them. */
export function catchupService(
  init: CatchupServiceInit = {},
): (components: CatchupServiceComponents) => CatchupService {
  return (components) => new CatchupService(components, init);
}
