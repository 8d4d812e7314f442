/**
 * The lookup client's ways to its peers: a peer dialled once however many lookups want it at the same
 * time, its open connection reused, its session (`/trustix/lookup/1.1.0`, node/network/request-session.ts)
 * or, for a peer that speaks only 1.0.0, a new stream per lookup, and at most `maxPerPeer` lookups in
 * flight to it (more wait their turn, below the server's cap on inbound streams). Apart from the exchange
 * because these are shared by every lookup, while an exchange is one request.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface';
import {
  LOOKUP_PROTOCOL_SESSION,
  LOOKUP_PROTOCOLS,
  MAX_LOOKUP_RESPONSE_BYTES,
} from '../../protocol/constants.ts';
import type { LookupClientComponents, LookupClientInit } from './lookup-client-init.ts';
import { RequestSession } from './request-session.ts';
import { raceSignal } from './signal-race.ts';

/**
 * A session with no lookup pending for this long is closed, in ms: below the server's idle time (10 s),
 * so that the client, not a race with the server, ends it.
 */
const SESSION_IDLE_MS = 5_000;
/** Longest varint length prefix of an answer (an answer is at most 1 MiB). */
const MAX_PREFIX_BYTES = 4;

/** Where a lookup goes: the peer's session, or a new stream of its own, on `connection`. */
export interface LookupChannel {
  readonly connection: Connection;
  readonly via: RequestSession | Stream;
}

/** What is known of the way to one peer on its current connection. */
interface PeerLink {
  readonly connection: Connection;
  /** The version the peer chose, once a stream has negotiated it. */
  protocol?: string;
  session?: RequestSession;
  /** A first stream being negotiated: the lookups that come meanwhile wait for it. */
  opening?: Promise<void>;
}

export class LookupConnections {
  private readonly components: LookupClientComponents;
  private readonly init: Required<LookupClientInit>;
  private readonly connections = new Map<string, Connection>();
  private readonly dialing = new Map<string, Promise<Connection>>();
  /** Per peer: lookups in flight, and those waiting for a slot. */
  private readonly slots = new Map<string, { active: number; waiting: (() => void)[] }>();
  private readonly links = new Map<string, PeerLink>();

  constructor(components: LookupClientComponents, init: Required<LookupClientInit>) {
    this.components = components;
    this.init = init;
  }

  /** The open connection to `peer`, dialled once however many lookups want it at the same time. */
  async connect(peerId: PeerId, signal: AbortSignal): Promise<Connection> {
    const peer = peerId.toString();
    const known = this.connections.get(peer);
    if (known !== undefined && known.status === 'open') return known;
    let dialing = this.dialing.get(peer);
    if (dialing === undefined) {
      // Bounded by the lookup timeout, not by this caller's signal: others wait for the same dial.
      dialing = this.components.dialer
        .dial(peerId, { signal: AbortSignal.timeout(this.init.timeoutMs) })
        .finally(() => this.dialing.delete(peer));
      this.dialing.set(peer, dialing);
    }
    const connection = await raceSignal(dialing, signal);
    this.connections.set(peer, connection);
    return connection;
  }

  /**
   * Where the next lookup to `peerId` goes: its open session; else a new stream, which becomes the
   * session when the peer chose 1.1.0. While a first stream negotiates, the other lookups wait for it
   * (they would spend the same round trip), then share its session or open streams of their own.
   */
  async channel(peerId: PeerId, signal: AbortSignal): Promise<LookupChannel> {
    const peer = peerId.toString();
    for (;;) {
      const connection = await this.connect(peerId, signal);
      let link = this.links.get(peer);
      if (link === undefined || link.connection !== connection) {
        link = { connection };
        this.links.set(peer, link);
      }
      if (link.session?.open) return { connection, via: link.session };
      if (link.opening !== undefined) {
        await raceSignal(link.opening, signal);
        continue;
      }
      if (link.protocol !== undefined && link.protocol !== LOOKUP_PROTOCOL_SESSION) {
        const stream = await connection.newStream(link.protocol, { signal, runOnLimitedConnection: true });
        return { connection, via: stream };
      }
      return { connection, via: await this.open(link, signal) };
    }
  }

  /** The first stream on a link, proposing every version: the peer's session if it chose 1.1.0. */
  private async open(link: PeerLink, signal: AbortSignal): Promise<RequestSession | Stream> {
    const opening = link.connection
      .newStream([...LOOKUP_PROTOCOLS], { signal, runOnLimitedConnection: true })
      .then((stream) => {
        link.protocol = stream.protocol;
        if (stream.protocol !== LOOKUP_PROTOCOL_SESSION) return stream;
        const session = new RequestSession(stream, {
          idleMs: SESSION_IDLE_MS,
          answerTimeoutMs: this.init.timeoutMs,
          closeTimeoutMs: this.init.timeoutMs,
          maxBufferBytes: 2 * (MAX_LOOKUP_RESPONSE_BYTES + MAX_PREFIX_BYTES),
        });
        session.start();
        link.session = session;
        return session;
      });
    link.opening = opening
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        link.opening = undefined;
      });
    return opening;
  }

  /** A slot for a lookup to `peer`: at once, or once release() hands one over. */
  async acquire(peer: string, signal: AbortSignal): Promise<void> {
    let s = this.slots.get(peer);
    if (s === undefined) {
      s = { active: 0, waiting: [] };
      this.slots.set(peer, s);
    }
    signal.throwIfAborted();
    if (s.active < this.init.maxPerPeer) {
      s.active++;
      return;
    }
    const slots = s;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        slots.waiting.splice(slots.waiting.indexOf(take), 1);
        reject(signal.reason);
      };
      const take = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      slots.waiting.push(take);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    // Handed a slot by release(): active already counts it.
  }

  /** The slot of a lookup to `peer` back: to the next one waiting, if any. */
  release(peer: string): void {
    const s = this.slots.get(peer);
    if (s === undefined) return;
    const next = s.waiting.shift();
    if (next !== undefined) {
      next();
      return;
    }
    s.active--;
    if (s.active === 0) this.slots.delete(peer);
  }
}
