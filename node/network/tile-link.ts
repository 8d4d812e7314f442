/**
 * The way a tile exchange client's requests reach one peer (node/network/libp2p-tile-source.ts): the
 * connection of the last request, reused while open (finding it again through the node costs a
 * multiaddr parse and a PeerId decode per request, as much as the rest of a small request); the version
 * the peer chose on it; the peer's session when that version is 1.2.0 (node/network/request-session.ts),
 * else a new stream per request; and the slots that bound the requests in flight.
 */
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { MAX_TILE_BYTES, TILES_PROTOCOL_SESSION, TILES_PROTOCOLS } from '../../protocol/constants.ts';
import { RequestSession } from './request-session.ts';
import { raceSignal } from './signal-race.ts';

/**
 * Requests in flight to a peer without sessions (1.0.0, 1.1.0: a stream each): below the server's
 * default cap of 32 inbound tile streams per connection, with room for streams still closing.
 */
const STREAM_CONCURRENCY = 24;
/** Longest varint length prefix of an answer (a tile body is under 2^28 bytes). */
export const MAX_PREFIX_BYTES = 4;

export interface TileLinkInit {
  /** Opens connections: the libp2p node. */
  readonly dialer: Pick<Libp2p, 'dial'>;
  readonly peer: PeerId | Multiaddr;
  /** Time for each session answer from its turn, and for a session's close, in ms. */
  readonly timeoutMs: number;
  /** A session with no request pending for this long is closed, in ms. */
  readonly sessionIdleMs: number;
  /** Requests in flight on a session (fewer on streams of their own: STREAM_CONCURRENCY). */
  readonly maxConcurrency: number;
}

export class TileLink {
  private readonly init: TileLinkInit;
  private active = 0;
  private connection: Connection | undefined;
  /** The tile exchange version the peer chose on `connection`, once a request has negotiated it. */
  private protocol: string | undefined;
  /** The peer's 1.2.0 session on `connection`, once a request has opened one. */
  private session: RequestSession | undefined;
  /** A first stream being negotiated: the requests that come meanwhile wait for it. */
  private sessionOpening: Promise<void> | undefined;
  /** Requests waiting for a slot; admit() hands free slots to the first. */
  private readonly waiting: (() => void)[] = [];

  constructor(init: TileLinkInit) {
    this.init = init;
  }

  /**
   * Requests in flight at most: `maxConcurrency` on a session; on streams of their own (an older peer,
   * or before the first negotiation says), no more than STREAM_CONCURRENCY, under the server's cap.
   */
  private cap(): number {
    return this.protocol === TILES_PROTOCOL_SESSION
      ? this.init.maxConcurrency
      : Math.min(this.init.maxConcurrency, STREAM_CONCURRENCY);
  }

  async acquire(signal?: AbortSignal): Promise<void> {
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

  /** Gives back a slot taken by acquire. */
  release(): void {
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

  /**
   * Where the next request goes: the peer's open session; else a new stream, which becomes the session
   * when the peer chose 1.2.0. While a first stream negotiates, the other requests wait for it (they
   * would have spent the same round trip), then share its session or open their own streams.
   */
  async channel(signal: AbortSignal): Promise<RequestSession | Stream> {
    while (!(this.session?.open ?? false) && this.sessionOpening !== undefined)
      await raceSignal(this.sessionOpening, signal);
    if (this.session?.open) return this.session;
    const known = this.connection?.status === 'open' ? this.protocol : undefined;
    if (known !== undefined && known !== TILES_PROTOCOL_SESSION) return this.open(signal);
    const opening = this.open(signal).then((stream) => {
      if (stream.protocol !== TILES_PROTOCOL_SESSION) return stream;
      const session = new RequestSession(stream, {
        idleMs: this.init.sessionIdleMs,
        answerTimeoutMs: this.init.timeoutMs,
        closeTimeoutMs: this.init.timeoutMs,
        maxBufferBytes: 2 * (1 + MAX_TILE_BYTES + MAX_PREFIX_BYTES),
      });
      session.start();
      this.session = session;
      this.admit(); // a session takes more requests at once than streams do
      return session;
    });
    // The requests that come meanwhile wait for it, whatever its outcome.
    this.sessionOpening = opening
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.sessionOpening = undefined;
      });
    return opening;
  }

  /**
   * A new tile exchange stream to the peer, on the connection of the last request while it is open. Its
   * version is negotiated in full, a round trip (libp2p 3 ignores `negotiateFully: false`): the first
   * stream proposes every version, the next ones the version the peer chose.
   */
  private async open(signal: AbortSignal): Promise<Stream> {
    let connection = this.connection;
    if (connection === undefined || connection.status !== 'open') {
      connection = await this.init.dialer.dial(this.init.peer, { signal });
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
}
