/**
 * A STUN responder (RFC 5389, Binding only) on the UDP port of a public node's TCP listener, so that
 * nodes behind NAT learn their NAT-mapped address for WebRTC's ICE from Trustix nodes, never from a
 * third party's STUN server (docs/ARCHITECTURE.md, "Reachability behind NAT"; docs/SECURITY.md).
 *
 * What is answered and how, byte by byte, is the STUN message format (node/network/stun-message.ts):
 * a Binding Request gets a Binding Success Response with XOR-MAPPED-ADDRESS (the request's source
 * address and port: the NAT's mapping) and FINGERPRINT; anything else is dropped without an answer. No
 * state is kept per request; only token buckets per source (an IPv4 address, an IPv6 /64) and for all
 * sources bound what it sends.
 *
 * Amplification: the answer (40 bytes for IPv4, 52 for IPv6) is at most 2.6 times the smallest request
 * (20 bytes) and goes to the request's source. A spoofed source gets at most `perSource` answers a
 * second, and all sources together `overall`: with the defaults, 10 and 200 a second, i.e. 520 B/s to
 * one victim and 10.4 KB/s in all, less than the requests a flooder has to send for them.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { ComponentLogger, Libp2pEvents, Logger, Startable, TypedEventTarget } from '@libp2p/interface';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { GossipBudget, type RateLimit } from '../monitor/gossip-budget.ts';
import { addressBytes, bindingResponse, parseBindingRequest } from './stun-message.ts';

/**
 * Default answers per second to one source (an IPv4 address or an IPv6 /64; bursts of 20): an ICE agent
 * asks a few times.
 */
export const DEFAULT_STUN_PER_SOURCE: RateLimit = { perSecond: 10, burst: 20 };
/** Default answers per second for all sources together (bursts of 400). */
export const DEFAULT_STUN_OVERALL: RateLimit = { perSecond: 200, burst: 400 };

/**
 * The budget key of a request's source: its IPv4 address, or its IPv6 /64 (a host is given a whole /64
 * and may send from any address in it). An IPv4-mapped IPv6 address counts as its IPv4 address.
 */
export function stunSourceKey(address: string): string {
  const ip = address.split('%')[0]!;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped !== null) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  // The address's bytes (a multiaddr's, after its one-byte protocol code): the first 8 are the /64.
  const bytes = addressBytes(ip).subarray(0, 8);
  return `${Buffer.from(bytes).toString('hex')}/64`;
}

export interface StunResponderInit {
  /** UDP port to answer on. Default: the port of each TCP listen address, on that address's host. */
  readonly port?: number;
  /** Answers per source IP address. Default DEFAULT_STUN_PER_SOURCE (10/s, bursts of 20). */
  readonly perSource?: RateLimit;
  /** Answers for all sources together. Default DEFAULT_STUN_OVERALL (200/s, bursts of 400). */
  readonly overall?: RateLimit;
}

/** What the responder has done, for status and tests. */
export interface StunResponderStats {
  /** Binding Requests answered. */
  readonly answered: number;
  /** Packets dropped as no Binding Request this responder answers. */
  readonly malformed: number;
  /** Binding Requests dropped over a rate limit. */
  readonly limited: number;
}

/**
 * The UDP sockets that answer Binding Requests. Usable alone (tests): listen(), then close().
 */
export class StunResponder implements StunResponderStats {
  answered = 0;
  malformed = 0;
  limited = 0;
  private readonly budget: GossipBudget;
  private readonly sockets = new Map<string, Socket>();
  private readonly binding = new Map<string, Promise<number>>();
  private readonly log: Logger | undefined;

  constructor(init: Pick<StunResponderInit, 'perSource' | 'overall'> = {}, log?: Logger) {
    this.budget = new GossipBudget(
      init.perSource ?? DEFAULT_STUN_PER_SOURCE,
      init.overall ?? DEFAULT_STUN_OVERALL,
    );
    this.log = log;
  }

  /**
   * Answers on UDP `host`:`port` (port 0: any); resolves with the port bound. Once per host and port: a
   * second call, even while the first is binding, gets the first's result.
   */
  listen(host: string, port: number): Promise<number> {
    const key = `${host}|${port}`;
    let bound = this.binding.get(key);
    if (bound === undefined) {
      bound = this.bind(key, host, port);
      this.binding.set(key, bound);
      // A failed bind may be tried again (e.g. when the listener reports its addresses again).
      bound.catch(() => this.binding.delete(key));
    }
    return bound;
  }

  private async bind(key: string, host: string, port: number): Promise<number> {
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', ipv6Only: isIPv6(host) });
    socket.on('message', (packet, from) => this.answer(socket, packet, from));
    // A send or socket error concerns one datagram: log it, keep answering.
    socket.on('error', (err) => this.log?.error('STUN socket %s:%d: %e', host, port, err));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const bound = socket.address().port;
    this.sockets.set(key, socket);
    // Port 0 chose a port: asking for that one later is asking for this socket.
    if (bound !== port) this.binding.set(`${host}|${bound}`, Promise.resolve(bound));
    return bound;
  }

  /** The addresses answered on, `host:port`. */
  addresses(): string[] {
    return [...this.sockets.values()].map((s) => {
      const a = s.address();
      return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    });
  }

  close(): void {
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
    this.binding.clear();
  }

  private answer(socket: Socket, packet: Buffer, from: RemoteInfo): void {
    const transaction = parseBindingRequest(packet);
    if (transaction === undefined) {
      this.malformed++;
      return;
    }
    if (this.budget.spend(stunSourceKey(from.address)) !== 'ok') {
      this.limited++;
      return;
    }
    this.answered++;
    socket.send(bindingResponse(transaction, from.address, from.port), from.port, from.address);
  }
}

export interface StunResponderComponents {
  readonly events: TypedEventTarget<Libp2pEvents>;
  readonly logger: ComponentLogger;
}

/** The libp2p service: a StunResponder on the hosts and ports of the node's TCP listeners. */
export interface StunResponderService extends StunResponderStats {
  /** The addresses answered on, `host:port`. */
  addresses(): string[];
}

interface TcpListen {
  readonly family: 4 | 6;
  readonly host: string;
  readonly port: number;
}

function tcpListen(ma: Multiaddr): TcpListen | undefined {
  const [ip, tcp] = ma.getComponents();
  if ((ip?.name !== 'ip4' && ip?.name !== 'ip6') || tcp?.name !== 'tcp' || ip.value === undefined) return;
  return { family: ip.name === 'ip4' ? 4 : 6, host: ip.value, port: Number(tcp.value) };
}

class DefaultStunResponderService implements StunResponderService, Startable {
  readonly [Symbol.toStringTag] = 'trustix:stun-responder';
  private readonly listen: readonly TcpListen[];
  private readonly init: StunResponderInit;
  private readonly log: Logger;
  private readonly components: StunResponderComponents;
  private responder: StunResponder | undefined;
  // A listener's actual ports are known once it listens (a configured port 0 is chosen then).
  private readonly onListening = (event: CustomEvent<{ getAddrs(): Multiaddr[] }>): void => {
    const responder = this.responder;
    if (responder === undefined) return;
    // A wildcard listener reports one address per interface, all with its port: one socket for them.
    const wanted = new Map<string, { host: string; port: number }>();
    for (const bound of event.detail.getAddrs().map(tcpListen)) {
      if (bound === undefined) continue;
      for (const l of this.listen)
        if (
          l.family === bound.family &&
          (l.port === bound.port || l.port === 0) &&
          (l.host === '0.0.0.0' || l.host === '::' || l.host === bound.host)
        ) {
          const port = this.init.port ?? bound.port;
          wanted.set(`${l.host}|${port}`, { host: l.host, port });
        }
    }
    for (const { host, port } of wanted.values())
      responder.listen(host, port).then(
        () => this.log('answering STUN on %s port %d', host, port),
        // The node runs on without it (a peer's ICE then has no answer here): say why, loudly.
        (err: unknown) => this.log.error('cannot answer STUN on %s port %d: %e', host, port, err),
      );
  };

  constructor(components: StunResponderComponents, listen: readonly Multiaddr[], init: StunResponderInit) {
    this.components = components;
    this.listen = listen.flatMap((ma) => tcpListen(ma) ?? []);
    this.init = init;
    this.log = components.logger.forComponent('trustix:stun-responder');
  }

  get answered(): number {
    return this.responder?.answered ?? 0;
  }
  get malformed(): number {
    return this.responder?.malformed ?? 0;
  }
  get limited(): number {
    return this.responder?.limited ?? 0;
  }

  addresses(): string[] {
    return this.responder?.addresses() ?? [];
  }

  start(): void {
    this.responder = new StunResponder(this.init, this.log);
    this.components.events.addEventListener('transport:listening', this.onListening);
  }

  stop(): void {
    this.components.events.removeEventListener('transport:listening', this.onListening);
    this.responder?.close();
    this.responder = undefined;
  }
}

/**
 * A STUN responder on the UDP side of the node's TCP listen addresses `listen` (the configured ones,
 * e.g. `/ip4/0.0.0.0/tcp/8566` answers on UDP 0.0.0.0:8566), or on `init.port`.
 */
export function stunResponder(
  listen: readonly string[],
  init: StunResponderInit = {},
): (components: StunResponderComponents) => StunResponderService {
  return (components) =>
    new DefaultStunResponderService(
      components,
      listen.map((a) => multiaddr(a)),
      init,
    );
}
