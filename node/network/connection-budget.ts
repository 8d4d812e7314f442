/**
 * A budget of open connections per remote IP address and per IP subnet (IPv4 /24, IPv6 /48), applied
 * to inbound connections by the libp2p connection gater (docs/SECURITY.md, "Keyless peers"): peer IDs
 * cost nothing, addresses do, so one host or one network cannot take every connection slot
 * (`maxConnections`). Counted from libp2p's connection:open and connection:close events; loopback and
 * relayed connections are exempt unless `limitLoopback` (tests run many nodes on 127.0.0.1). An inbound
 * connection is counted from the moment the gater lets it in (`denyInboundConnection`), through its
 * handshake, until it closes, so a burst of connections opened at once cannot pass the budget while
 * they are still in their handshake. Each connection is known by its remote address without the peer
 * ID (an IP address and port: one transport connection).
 */
import type {
  Connection,
  ConnectionGater,
  Libp2pEvents,
  MultiaddrConnection,
  TypedEventTarget,
} from '@libp2p/interface';
import { subnetOf } from './subnet.ts';

/** Default open connections from one IP address, and from one subnet. */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 8;
export const DEFAULT_MAX_CONNECTIONS_PER_SUBNET = 32;

export interface ConnectionBudgetInit {
  /** Open connections from one IP address; more inbound ones are refused. Default 8. */
  readonly maxPerIp?: number;
  /** Open connections from one IP subnet (IPv4 /24, IPv6 /48). Default 32. */
  readonly maxPerSubnet?: number;
  /** Apply the budget to loopback addresses too. Default false. */
  readonly limitLoopback?: boolean;
}

/** A connection's name: its remote address without the peer ID libp2p appends once it is upgraded. */
const connectionKey = (remoteAddr: string): string => remoteAddr.split('/p2p/')[0]!;

/** The IP address of a multiaddr, as a budget key (undefined where subnetOf is: loopback, relayed). */
function ipOf(multiaddr: string, limitLoopback: boolean): string | undefined {
  if (subnetOf(multiaddr, limitLoopback) === undefined) return undefined;
  return /^\/ip[46]\/([^/]+)/.exec(multiaddr)?.[1];
}

export class ConnectionBudget {
  private readonly init: Required<ConnectionBudgetInit>;
  private readonly open = new Map<string, number>();
  /** The connections counted (connectionKey), inbound ones from the gater's admission on. */
  private readonly counted = new Set<string>();
  private events: TypedEventTarget<Libp2pEvents> | undefined;

  constructor(init: ConnectionBudgetInit = {}) {
    this.init = {
      maxPerIp: DEFAULT_MAX_CONNECTIONS_PER_IP,
      maxPerSubnet: DEFAULT_MAX_CONNECTIONS_PER_SUBNET,
      limitLoopback: false,
      ...init,
    };
  }

  private readonly onOpen = (e: CustomEvent<Connection>) => this.add(e.detail.remoteAddr.toString());
  private readonly onClose = (e: CustomEvent<Connection>) => this.remove(e.detail.remoteAddr.toString());

  /** Counts the node's connections from now on (until stop). */
  start(events: TypedEventTarget<Libp2pEvents>): void {
    this.events = events;
    events.addEventListener('connection:open', this.onOpen);
    events.addEventListener('connection:close', this.onClose);
  }

  stop(): void {
    this.events?.removeEventListener('connection:open', this.onOpen);
    this.events?.removeEventListener('connection:close', this.onClose);
    this.events = undefined;
    this.open.clear();
    this.counted.clear();
  }

  /** Open connections counted for `multiaddr`'s IP address and subnet. */
  counts(multiaddr: string): { ip: number; subnet: number } {
    const keys = this.keys(multiaddr);
    return keys === undefined
      ? { ip: 0, subnet: 0 }
      : { ip: this.open.get(keys.ip) ?? 0, subnet: this.open.get(keys.subnet) ?? 0 };
  }

  gater(): Pick<ConnectionGater, 'denyInboundConnection'> {
    return {
      denyInboundConnection: async (maConn) => {
        const addr = maConn.remoteAddr.toString();
        const { ip, subnet } = this.counts(addr);
        if (ip >= this.init.maxPerIp || subnet >= this.init.maxPerSubnet) return true;
        this.admit(maConn, addr);
        return false;
      },
    };
  }

  private keys(multiaddr: string): { ip: string; subnet: string } | undefined {
    const subnet = subnetOf(multiaddr, this.init.limitLoopback);
    const ip = ipOf(multiaddr, this.init.limitLoopback);
    return subnet === undefined || ip === undefined ? undefined : { ip: `ip ${ip}`, subnet: `net ${subnet}` };
  }

  /** Counts an inbound connection in its handshake, until it is upgraded (then counted as open) or closes. */
  private admit(maConn: MultiaddrConnection, addr: string): void {
    if (this.events === undefined || !this.add(addr)) return;
    if (maConn.status !== 'open') this.remove(addr);
    else maConn.addEventListener('close', () => this.remove(addr), { once: true });
  }

  /** Counts the connection at `addr` once; false when it is not budgeted or already counted. */
  private add(addr: string): boolean {
    const key = connectionKey(addr);
    if (this.counted.has(key) || this.keys(addr) === undefined) return false;
    this.counted.add(key);
    this.count(addr, 1);
    return true;
  }

  private remove(addr: string): void {
    if (this.counted.delete(connectionKey(addr))) this.count(addr, -1);
  }

  private count(addr: string, delta: number): void {
    const keys = this.keys(addr);
    if (keys === undefined) return;
    for (const key of [keys.ip, keys.subnet]) {
      const n = (this.open.get(key) ?? 0) + delta;
      if (n <= 0) this.open.delete(key);
      else this.open.set(key, n);
    }
  }
}
