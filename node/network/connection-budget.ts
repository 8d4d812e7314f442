/**
 * A budget of open connections per remote IP address and per IP subnet (IPv4 /24, IPv6 /48), applied
 * to inbound connections by the libp2p connection gater (docs/SECURITY.md, "Keyless peers"): peer IDs
 * cost nothing, addresses do, so one host or one network cannot take every connection slot
 * (`maxConnections`). Counted from libp2p's connection:open and connection:close events; loopback and
 * relayed connections are exempt unless `limitLoopback` (tests run many nodes on 127.0.0.1). Connections
 * being opened at the same moment are not counted yet, so a burst may pass the budget by the few
 * connections in its handshake; libp2p's per-IP inbound rate limit bounds that.
 */
import type { Connection, ConnectionGater, Libp2pEvents, TypedEventTarget } from '@libp2p/interface';
import { subnetOf } from './tile-exchange.ts';

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

/** The IP address of a multiaddr, as a budget key (undefined where subnetOf is: loopback, relayed). */
function ipOf(multiaddr: string, limitLoopback: boolean): string | undefined {
  if (subnetOf(multiaddr, limitLoopback) === undefined) return undefined;
  return /^\/ip[46]\/([^/]+)/.exec(multiaddr)?.[1];
}

export class ConnectionBudget {
  private readonly init: Required<ConnectionBudgetInit>;
  private readonly open = new Map<string, number>();
  private events: TypedEventTarget<Libp2pEvents> | undefined;

  constructor(init: ConnectionBudgetInit = {}) {
    this.init = {
      maxPerIp: DEFAULT_MAX_CONNECTIONS_PER_IP,
      maxPerSubnet: DEFAULT_MAX_CONNECTIONS_PER_SUBNET,
      limitLoopback: false,
      ...init,
    };
  }

  private readonly onOpen = (e: CustomEvent<Connection>) => this.count(e.detail, 1);
  private readonly onClose = (e: CustomEvent<Connection>) => this.count(e.detail, -1);

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
        const { ip, subnet } = this.counts(maConn.remoteAddr.toString());
        return ip >= this.init.maxPerIp || subnet >= this.init.maxPerSubnet;
      },
    };
  }

  private keys(multiaddr: string): { ip: string; subnet: string } | undefined {
    const subnet = subnetOf(multiaddr, this.init.limitLoopback);
    const ip = ipOf(multiaddr, this.init.limitLoopback);
    return subnet === undefined || ip === undefined ? undefined : { ip: `ip ${ip}`, subnet: `net ${subnet}` };
  }

  private count(connection: Connection, delta: number): void {
    const keys = this.keys(connection.remoteAddr.toString());
    if (keys === undefined) return;
    for (const key of [keys.ip, keys.subnet]) {
      const n = (this.open.get(key) ?? 0) + delta;
      if (n <= 0) this.open.delete(key);
      else this.open.set(key, n);
    }
  }
}
