/**
 * How a node finds its first peers (docs/PROTOCOL.md "Network"): the bootstrap list, dialled once at
 * start, and mDNS on the local network (node/network/lan-discovery.ts). Apart from the builder so that a
 * node's discovery sources are read in one place; the re-dial loop while isolated is a service
 * (node/network/bootstrap-redialer.ts), and whether mDNS is on is Libp2pNodeInit.mdns.
 */
import { bootstrap } from '@libp2p/bootstrap';
import type { Libp2pOptions } from 'libp2p';
import { MDNS_SERVICE_TAG } from '../../protocol/constants.ts';
import { lanDiscovery } from './lan-discovery.ts';
import type { Libp2pNodeInit } from './libp2p-node-init.ts';

/** The peer discovery of a node: `bootstrapList` if any, and mDNS unless `mdnsInit` is false. */
export function peerDiscovery(
  bootstrapList: string[],
  mdnsInit: NonNullable<Libp2pNodeInit['mdns']>,
): NonNullable<Libp2pOptions['peerDiscovery']> {
  // @libp2p/bootstrap refuses an empty list; it tags the peers and dials them once at start.
  const discovery: NonNullable<Libp2pOptions['peerDiscovery']> =
    bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList, timeout: 0 })] : [];
  if (mdnsInit !== false)
    discovery.push(
      lanDiscovery({
        serviceTag: MDNS_SERVICE_TAG,
        ...(typeof mdnsInit === 'object' &&
          mdnsInit.intervalMs !== undefined && { interval: mdnsInit.intervalMs }),
      }),
    );
  return discovery;
}
