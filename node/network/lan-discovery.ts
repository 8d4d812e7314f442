/**
 * Peers on the local network, by mDNS (@libp2p/mdns), dialled when found. libp2p 3 only reports a
 * discovered peer; nothing dials it unless a service needs it, and on a LAN with no bootstrap node
 * nothing does: the gossip mesh and the DHT would stay empty. So each peer mDNS reports is dialled
 * once (again at most every `redialMs` while we are not connected), through the connection manager,
 * whose gater and limits apply.
 */
import type { PeerDiscovery, PeerId, PeerInfo } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { type MulticastDNSComponents, type MulticastDNSInit, mdns } from '@libp2p/mdns';
import type { Multiaddr } from '@multiformats/multiaddr';

const log = logger('trustix:lan');

export interface LanDiscoveryInit extends MulticastDNSInit {
  /** Least time between two dials of one peer found again while not connected. Default 30 s. */
  readonly redialMs?: number;
  /** Peers remembered for that purpose (oldest forgotten first). Default 1,000. */
  readonly maxRemembered?: number;
}

export interface LanDiscoveryComponents extends MulticastDNSComponents {
  readonly connectionManager: {
    getConnections(peerId?: PeerId): readonly unknown[];
    openConnection(addrs: Multiaddr[]): Promise<unknown>;
  };
}

/** mDNS discovery that also dials what it finds (a peerDiscovery factory for createLibp2p). */
export function lanDiscovery(
  init: LanDiscoveryInit = {},
): (components: LanDiscoveryComponents) => PeerDiscovery {
  const { redialMs = 30_000, maxRemembered = 1_000, ...mdnsInit } = init;
  return (components) => {
    const discovery = mdns(mdnsInit)(components);
    const dialled = new Map<string, number>();
    discovery.addEventListener('peer', (e: CustomEvent<PeerInfo>) => {
      const { id, multiaddrs } = e.detail;
      const key = id.toString();
      const now = Date.now();
      if (components.connectionManager.getConnections(id).length > 0) return;
      if ((dialled.get(key) ?? Number.NEGATIVE_INFINITY) > now - redialMs) return;
      dialled.delete(key);
      dialled.set(key, now);
      if (dialled.size > maxRemembered) dialled.delete(dialled.keys().next().value!);
      const addrs = multiaddrs.map((a) =>
        a.getComponents().some((c) => c.name === 'p2p') ? a : a.encapsulate(`/p2p/${key}`),
      );
      components.connectionManager
        .openConnection(addrs)
        .then(() => log('connected to %s, found on the LAN', key))
        .catch((err: unknown) => log('dialling %s, found on the LAN: %s', key, err));
    });
    return discovery;
  };
}
