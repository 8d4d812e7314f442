/**
 * The STUN servers a node's WebRTC asks for its NAT-mapped address (docs/ARCHITECTURE.md, "Reachability
 * behind NAT"): always Trustix nodes, from the bootstrap list or among connected relays, or servers
 * given explicitly; never @libp2p/webrtc's public defaults. Its own module because the CLI shows the
 * default choice (stunOfBootstrap) without building a node.
 */
import { RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2';
import type { Libp2p } from '@libp2p/interface';
import { isLocalAddress } from './local-only.ts';

/**
 * The STUN servers a node behind NAT asks by default: each bootstrap multiaddr that names an IP address
 * and a TCP port, as `stun:IP:PORT` (a `trustix bootstrap` node answers STUN there); under localOnly only
 * local addresses (the others are never dialled either). Multiaddrs naming a DNS host are left out:
 * a name would be resolved by WebRTC's own resolver, outside the node's checks.
 */
export function stunOfBootstrap(bootstrap: readonly string[], localOnly: boolean): string[] {
  const urls = new Set<string>();
  for (const addr of bootstrap) {
    const m = /^\/(ip4|ip6)\/([^/]+)\/tcp\/(\d+)(?:\/|$)/.exec(addr);
    if (m === null || (localOnly && !isLocalAddress(m[2]!))) continue;
    urls.add(m[1] === 'ip6' ? `stun:[${m[2]}]:${m[3]}` : `stun:${m[2]}:${m[3]}`);
  }
  return [...urls];
}

/** Connected relays stunOfPeers gives at most: each is one more STUN request per WebRTC connection. */
export const MAX_PEER_STUN_SERVERS = 3;
const AGENT_PREFIX = 'trustix/';

/**
 * STUN servers among the peers `node` is connected to: Trustix nodes (identify's agent `trustix/…`) that
 * serve as circuit relays (RELAY_V2_HOP_CODEC), which only public Trustix nodes do and which answer
 * STUN by default (Libp2pNodeInit.stunResponder), reached by a direct outbound TCP connection (so its
 * remote address is the peer's listen address, whose port the responder answers on). Under localOnly
 * only local addresses. At most MAX_PEER_STUN_SERVERS, as `stun:IP:PORT`.
 */
export async function stunOfPeers(
  node: Pick<Libp2p, 'getConnections' | 'peerStore'>,
  localOnly: boolean,
): Promise<string[]> {
  const urls: string[] = [];
  for (const connection of node.getConnections()) {
    if (urls.length >= MAX_PEER_STUN_SERVERS) break;
    if (connection.direction !== 'outbound' || connection.limits !== undefined) continue;
    const url = stunOfBootstrap([connection.remoteAddr.toString()], localOnly)[0];
    if (url === undefined || urls.includes(url)) continue;
    const peer = await node.peerStore.get(connection.remotePeer).catch(() => undefined);
    const agent = peer?.metadata.get('AgentVersion');
    if (
      peer === undefined ||
      agent === undefined ||
      !new TextDecoder().decode(agent).startsWith(AGENT_PREFIX)
    )
      continue;
    if (peer.protocols.includes(RELAY_V2_HOP_CODEC)) urls.push(url);
  }
  return urls;
}

/**
 * Under localOnly a STUN server must be named by a local IP address (a name could resolve anywhere).
 * Throws RangeError naming the URL otherwise.
 */
export function checkLocalStun(url: string): void {
  const m = /^stun:(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(url);
  const host = m?.[1]?.replace(/^\[|\]$/g, '');
  if (host === undefined || !isLocalAddress(host))
    throw new RangeError(`STUN server ${url}: not a local address (${LOCAL_ONLY_NOTE})`);
}

const LOCAL_ONLY_NOTE = 'TRUSTIX_LOCAL_ONLY contacts only loopback and non-routable addresses';
