/**
 * The checkpoint catch-up client (docs/PROTOCOL.md "Checkpoint catch-up"; node/network/catchup-service.ts
 * is the server): when identify shows that a peer we are connected to speaks `/trustix/checkpoints/1.0.0`
 * (on every new connection, and at start for the peers already connected), it asks that peer for the newest checkpoints it knows of the logs we follow.
 * Gossip never repeats a checkpoint to a node that joins late, so without this such a node would hear a
 * log's checkpoint only once connected to its builder or to a witness of it.
 *
 * Every checkpoint answered goes to the checkpoint monitor's gossip validator, `validate(bytes, peer)`,
 * exactly as a gossiped one (signature, consistency, witness cosignatures, the keyless gossip budget,
 * the quorum gate): nothing in an answer is trusted before the monitor verified it. A peer whose answer
 * is malformed, over MAX_CATCHUP_RESPONSE_BYTES, cut off, or carries a checkpoint the monitor rejects is
 * penalised `invalidPenalty` points (node/network/gossip-penalties.ts: by default as much as gossipsub
 * charges for one invalid gossip message, below its graylist), and the rest of its answer is dropped; a
 * verdict that blames the sender (over its gossip budget) costs it a point, as in gossip.
 *
 * A log followed later: askConnected asks every connected peer again (node/assembly/network-side.ts, on 'followed').
 * And every `intervalMs` one connected peer not asked within it is asked, so that a node whose gossip
 * mesh missed a checkpoint while its connections stay up still learns it within about a minute.
 *
 * Bounded: one peer is asked at most once per `intervalMs` (askConnected: one round per `intervalMs / 12`); `maxConcurrent` asks run at once and at most
 * `maxQueued` peers wait, the rest are skipped (they are asked on their next connection); at most
 * `maxLogs` logs per ask (a random subset beyond), MAX_CATCHUP_LOGS per request; each request has a
 * time limit (`timeoutMs`, dial to closed stream) and a size cap on its answer.
 */
import {
  type Connection,
  type IdentifyResult,
  type Libp2p,
  type Libp2pEvents,
  type Startable,
  TypedEventEmitter,
  type TypedEventTarget,
} from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { encodeCatchupRequest, parseCatchupResponse } from '../../protocol/checkpoint-catchup.ts';
import {
  CATCHUP_INTERVAL_MS,
  CATCHUP_PROTOCOL,
  CATCHUP_STATUS,
  CATCHUP_TIMEOUT_MS,
  MAX_CATCHUP_LOGS,
  MAX_CATCHUP_RESPONSE_BYTES,
} from '../../protocol/constants.ts';
import { TrustixError } from '../../protocol/errors.ts';
import type { CheckpointVerdict } from '../monitor/checkpoint-verdict.ts';
import { shuffled } from '../sync/random-order.ts';
import { type ExchangeResult, exchangeOnce } from './stream-exchange.ts';

const log = logger('trustix:catchup');

export interface CatchupClientComponents {
  /** The libp2p node: where identify results are announced, and the peers connected before start. */
  readonly node: TypedEventTarget<Libp2pEvents> & Pick<Libp2p, 'getConnections' | 'peerStore'>;
  /** The logs to catch up on: the followed ones (full and light). */
  wanted(): readonly string[];
  /** The checkpoint monitor's gossip validator (CheckpointMonitor.validate). */
  validate(bytes: Uint8Array, from: string): Promise<CheckpointVerdict>;
  /** Lowers a peer's gossip score (GossipPenalties.penalise). */
  penalise(peer: string, points: number): void;
}

export interface CatchupClientInit {
  /** Least time between two asks of one peer, in ms. Default CATCHUP_INTERVAL_MS (60,000). */
  readonly intervalMs?: number;
  /** Time for one request (new stream to closed stream), in ms. Default CATCHUP_TIMEOUT_MS (10,000). */
  readonly timeoutMs?: number;
  /** Peers asked at once. Default 4. */
  readonly maxConcurrent?: number;
  /** Peers waiting to be asked; beyond, a peer is skipped until its next connection. Default 64. */
  readonly maxQueued?: number;
  /** Logs asked about per ask (a random subset when more are followed). Default 4 * MAX_CATCHUP_LOGS (1,024). */
  readonly maxLogs?: number;
  /** Peers whose last ask is remembered (for `intervalMs`). Default 4,096. */
  readonly maxPeers?: number;
  /** Penalty points for a hostile answer. Default 100 (gossipsub's graylist threshold is -80). */
  readonly invalidPenalty?: number;
}

/** What one ask of one peer gave: checkpoints the monitor accepted, and why it stopped if it failed. */
export interface CatchupAnswer {
  readonly peer: string;
  readonly accepted: number;
  readonly checkpoints: number;
  /** The peer answered what no honest peer answers (it was penalised). */
  readonly blame?: string;
  /** The ask failed for another reason (busy, timeout, connection lost). */
  readonly error?: string;
}

export interface CatchupClientEvents {
  answer: CustomEvent<CatchupAnswer>;
}

export class CatchupClient extends TypedEventEmitter<CatchupClientEvents> implements Startable {
  private readonly components: CatchupClientComponents;
  private readonly init: Required<CatchupClientInit>;
  private started = false;
  /** PeerId string -> when it was last asked (ms), oldest first. */
  private readonly asked = new Map<string, number>();
  private readonly queue: Connection[] = [];
  private active = 0;
  /** The pending askConnected round, and when the last one ran (ms). */
  private round: NodeJS.Timeout | undefined;
  private roundAt = 0;
  private tick: NodeJS.Timeout | undefined;
  private readonly controller = new Set<AbortController>();
  private readonly onIdentify = (e: CustomEvent<IdentifyResult>) => {
    if (e.detail.protocols.includes(CATCHUP_PROTOCOL)) this.ask(e.detail.connection);
  };

  constructor(components: CatchupClientComponents, init: CatchupClientInit = {}) {
    super();
    this.components = components;
    this.init = {
      intervalMs: CATCHUP_INTERVAL_MS,
      timeoutMs: CATCHUP_TIMEOUT_MS,
      maxConcurrent: 4,
      maxQueued: 64,
      maxLogs: 4 * MAX_CATCHUP_LOGS,
      maxPeers: 4096,
      invalidPenalty: 100,
      ...init,
    };
    for (const [name, value] of Object.entries(this.init))
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }

  isStarted(): boolean {
    return this.started;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.components.node.addEventListener('peer:identify', this.onIdentify);
    // A node whose gossip mesh missed a checkpoint while its connections stay up: one peer a tick.
    this.tick = setInterval(() => this.askOne(), this.init.intervalMs);
    this.tick.unref();
    // Peers identified before we listened (libp2p starts, and dials, before this service).
    for (const connection of this.components.node.getConnections())
      this.components.node.peerStore.get(connection.remotePeer).then(
        (peer) => peer.protocols.includes(CATCHUP_PROTOCOL) && this.ask(connection),
        () => {}, // not identified yet: its identify event comes
      );
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.components.node.removeEventListener('peer:identify', this.onIdentify);
    this.queue.length = 0;
    clearTimeout(this.round);
    this.round = undefined;
    clearInterval(this.tick);
    this.tick = undefined;
    for (const c of this.controller) c.abort();
    this.controller.clear();
  }

  /**
   * Asks every connected peer that speaks the protocol now, whenever it was last asked: call when logs
   * are followed (their checkpoints may be known to peers, and gossip will not repeat them). At most one
   * such round per `intervalMs / 12` (5 s by default); a call within it asks once it is over.
   */
  askConnected(): void {
    if (!this.started || this.round !== undefined) return;
    const wait = Math.max(0, this.roundAt + this.init.intervalMs / 12 - Date.now());
    this.round = setTimeout(() => {
      this.round = undefined;
      this.roundAt = Date.now();
      for (const connection of this.components.node.getConnections())
        this.components.node.peerStore.get(connection.remotePeer).then(
          (peer) => peer.protocols.includes(CATCHUP_PROTOCOL) && this.ask(connection, true),
          () => {},
        );
    }, wait);
    this.round.unref();
  }

  /** Asks one connected peer, at random among those that speak the protocol and were not asked within `intervalMs`. */
  private askOne(): void {
    const now = Date.now();
    const candidates = this.components.node
      .getConnections()
      .filter((c) => now - (this.asked.get(c.remotePeer.toString()) ?? 0) >= this.init.intervalMs);
    const next = async (): Promise<void> => {
      const connection = candidates.splice(Math.floor(Math.random() * candidates.length), 1)[0];
      if (connection === undefined) return;
      const peer = await this.components.node.peerStore.get(connection.remotePeer).catch(() => undefined);
      if (peer?.protocols.includes(CATCHUP_PROTOCOL)) this.ask(connection);
      else await next();
    };
    next().catch((err: unknown) => log.error('choosing a peer to catch up from: %s', err));
  }

  /** Asks the peer at the other end of `connection`, unless it was asked within `intervalMs` (and not `now`). */
  ask(connection: Connection, now = false): void {
    const peer = connection.remotePeer.toString();
    const last = this.asked.get(peer);
    if (!this.started || (!now && last !== undefined && Date.now() - last < this.init.intervalMs)) return;
    if (this.components.wanted().length === 0) return;
    if (this.active >= this.init.maxConcurrent) {
      if (
        this.queue.length < this.init.maxQueued &&
        !this.queue.some((c) => c.remotePeer.equals(connection.remotePeer))
      )
        this.queue.push(connection);
      return;
    }
    this.asked.delete(peer);
    this.asked.set(peer, Date.now());
    if (this.asked.size > this.init.maxPeers) this.asked.delete(this.asked.keys().next().value as string);
    this.active++;
    this.askPeer(connection, peer)
      .then((answer) => this.dispatchEvent(new CustomEvent('answer', { detail: answer })))
      .catch((err: unknown) => log.error('catching up from %s: %s', peer, err))
      .finally(() => {
        this.active--;
        const next = this.queue.shift();
        if (next !== undefined) this.ask(next);
      });
  }

  private async askPeer(connection: Connection, peer: string): Promise<CatchupAnswer> {
    let wanted = [...this.components.wanted()];
    if (wanted.length > this.init.maxLogs) wanted = shuffled(wanted).slice(0, this.init.maxLogs);
    let accepted = 0;
    let checkpoints = 0;
    for (let i = 0; i < wanted.length && this.started; i += MAX_CATCHUP_LOGS) {
      const ids = wanted.slice(i, i + MAX_CATCHUP_LOGS);
      const got = await this.exchange(connection, encodeCatchupRequest(ids));
      if (got.response === undefined) return this.failed(peer, accepted, checkpoints, got);
      let messages: readonly Uint8Array[];
      try {
        const response = parseCatchupResponse(got.response, new Set(ids));
        if (response.status !== CATCHUP_STATUS.ok)
          return { peer, accepted, checkpoints, error: `status ${response.status}` };
        messages = response.messages;
      } catch (err) {
        if (!(err instanceof TrustixError)) throw err;
        return this.failed(peer, accepted, checkpoints, { blame: err.message });
      }
      for (const m of messages) {
        const verdict = await this.components.validate(m, peer);
        checkpoints++;
        if (verdict.decision === 'reject')
          return this.failed(peer, accepted, checkpoints, {
            blame: `a checkpoint refused: ${verdict.error?.message ?? verdict.outcome}`,
          });
        if (verdict.blame) this.components.penalise(peer, 1);
        if (verdict.decision === 'accept') accepted++;
      }
    }
    log('caught up from %s: %d of %d checkpoints new', peer, accepted, checkpoints);
    return { peer, accepted, checkpoints };
  }

  private failed(
    peer: string,
    accepted: number,
    checkpoints: number,
    why: { blame?: string; error?: string },
  ): CatchupAnswer {
    if (why.blame !== undefined) {
      log('penalising %s for its catch-up answer: %s', peer, why.blame);
      this.components.penalise(peer, this.init.invalidPenalty);
      return { peer, accepted, checkpoints, blame: why.blame };
    }
    return { peer, accepted, checkpoints, error: why.error ?? 'failed' };
  }

  /** One request and its answer on a new stream, bounded by the client's timeout and its stop. */
  private async exchange(connection: Connection, bytes: Uint8Array): Promise<ExchangeResult> {
    const controller = new AbortController();
    this.controller.add(controller);
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(this.init.timeoutMs)]);
    try {
      return await exchangeOnce(connection, CATCHUP_PROTOCOL, bytes, MAX_CATCHUP_RESPONSE_BYTES, signal);
    } finally {
      this.controller.delete(controller);
    }
  }
}

/** The js-libp2p style factory: `catchupClient(init)(components)`. */
export function catchupClient(
  init: CatchupClientInit = {},
): (components: CatchupClientComponents) => CatchupClient {
  return (components) => new CatchupClient(components, init);
}
