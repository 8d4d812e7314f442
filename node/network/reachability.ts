/**
 * Where the node stands on the network (`trustix peers`, `trustix start`, docs/CLI.md): public (an
 * address others can dial directly), private via N relays (behind NAT, reachable through relay
 * reservations), private with no relay yet, or isolated (no connection at all); and its connections by
 * kind: direct (WebRTC ones included), relayed (through a circuit relay) or LAN (a private or loopback address).
 */
import type { Connection, Libp2p } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { isLocalAddress } from './local-only.ts';

export type ConnectionKind = 'direct' | 'relayed' | 'lan';

export interface Reachability {
  readonly state: 'public' | 'private' | 'isolated';
  /** Relays holding a reservation for us (our `/p2p-circuit` addresses). */
  readonly relays: number;
  readonly connections: Readonly<Record<ConnectionKind, number>>;
  /** One line for people. */
  readonly summary: string;
}

/** What to do when isolated: printed once by `trustix start`. */
export const ISOLATED_ADVICE =
  'This node has no peers. It needs a way in: check that this machine reaches the Internet (the ' +
  'default bootstrap peers are the public libp2p ones), or give a peer with --bootstrap ' +
  '/ip4/ADDRESS/tcp/8566/p2p/PEERID (any Trustix node, e.g. `trustix bootstrap` on a public host); on ' +
  'a LAN, nodes find each other by mDNS. Under TRUSTIX_LOCAL_ONLY only the addresses given are used.';

function ipOf(addr: Multiaddr): string | undefined {
  return addr.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')?.value;
}

/** The kind of one connection. */
export function connectionKind(c: Pick<Connection, 'remoteAddr'>): ConnectionKind {
  const addr = c.remoteAddr.toString();
  // A WebRTC connection names the relay that signalled it (`.../p2p-circuit/webrtc/...`): its data does
  // not pass the relay, and the peer's own IP is not in the address.
  if (addr.includes('/p2p-circuit/webrtc')) return 'direct';
  if (addr.includes('/p2p-circuit')) return 'relayed';
  const ip = ipOf(c.remoteAddr);
  return ip !== undefined && isLocalAddress(ip) ? 'lan' : 'direct';
}

export function reachabilityOf(libp2p: Pick<Libp2p, 'getMultiaddrs' | 'getConnections'>): Reachability {
  const own = libp2p.getMultiaddrs();
  // One relay may appear under several of its addresses: count relay PeerIds.
  const relays = new Set(
    own.map(String).flatMap((a) => {
      const m = /\/p2p\/([^/]+)\/p2p-circuit/.exec(a);
      return m ? [m[1]] : [];
    }),
  ).size;
  const connections = { direct: 0, relayed: 0, lan: 0 };
  for (const c of libp2p.getConnections()) connections[connectionKind(c)]++;
  const total = connections.direct + connections.relayed + connections.lan;
  const publicAddress = own.some((a) => {
    const ip = ipOf(a);
    return !a.toString().includes('/p2p-circuit') && ip !== undefined && !isLocalAddress(ip);
  });
  const state = total === 0 ? 'isolated' : publicAddress ? 'public' : 'private';
  const kinds = `${connections.direct} direct, ${connections.relayed} relayed, ${connections.lan} LAN`;
  const summary =
    state === 'isolated'
      ? 'isolated: no connections'
      : state === 'public'
        ? `public; connections: ${kinds}`
        : `private via ${relays} relay${relays === 1 ? '' : 's'}; connections: ${kinds}`;
  return { state, relays, connections, summary };
}
