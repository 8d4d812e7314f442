/**
 * A node's presence on the network (node/assembly/network-side.ts): the tile exchange serving every log it holds,
 * its DHT provider records (kept up with its changing addresses), its own log provided and its
 * checkpoints gossiped, and, on the public DHT, the rendezvous where Trustix peers meet. Its own module
 * because this is what the node offers and how peers find it, apart from what it fetches from them.
 */
import { logger } from '@libp2p/logger';
import { TILES_PROTOCOL } from '../../protocol/constants.ts';
import { providingDhts } from '../network/dhts.ts';
import type { Gossip } from '../network/gossip.ts';
import type { TrustixLibp2p } from '../network/libp2p-services.ts';
import { LogProviders } from '../network/log-providers.ts';
import { Rendezvous } from '../network/rendezvous.ts';
import { TileExchange } from '../network/tile-exchange.ts';
import type { NetworkSideComponents, NetworkSideInit } from './network-side-init.ts';
import type { StartedParts } from './started-parts.ts';

const log = logger('trustix:node');

/** Starts the tile exchange, the provider records and the rendezvous, in that order, into `parts`. */
export async function startNetworkPresence(
  c: NetworkSideComponents,
  init: NetworkSideInit,
  parts: StartedParts,
  libp2p: TrustixLibp2p,
  gossip: Gossip,
): Promise<LogProviders> {
  const { own } = c;
  const tiles = new TileExchange({ registrar: libp2p, logs: c.logs }, init.tiles);
  await tiles.start();
  parts.add(() => tiles.stop());
  // Where the node's provider records go: the log records below and the rendezvous record.
  const dhts = providingDhts(libp2p);
  const providers = new LogProviders(
    { contentRouting: libp2p.contentRouting, dhts, peerId: libp2p.peerId },
    init.providers,
  );
  providers.start();
  parts.add(() => providers.stop());
  // Our addresses change after start (a relay reservation, a UPnP mapping): provider records must follow.
  let addresses = addressesOf(libp2p);
  parts.listen(libp2p, 'self:peer:update', () => {
    const now = addressesOf(libp2p);
    if (now === addresses) return;
    addresses = now;
    log('our addresses changed (%s): refreshing provider records', now);
    providers.refresh();
  });
  if (own !== undefined) {
    providers.provide(own.store.logId);
    parts.listen(own.sequencer, 'checkpoint', () => {
      const note = own.store.checkpoint()?.note;
      if (note !== undefined)
        gossip
          .publishCheckpoint(own.store.key.vkey, note)
          .catch((err: unknown) => log.error('gossip: %s', err));
    });
  }

  if (libp2p.services.amino !== undefined) {
    const rendezvous = new Rendezvous(
      {
        contentRouting: libp2p.contentRouting,
        dhts,
        peerId: libp2p.peerId,
        dialer: libp2p,
        trustixPeers: () => trustixPeers(libp2p),
      },
      init.rendezvous,
    );
    rendezvous.start();
    parts.add(() => rendezvous.stop());
  }
  return providers;
}

/** Our announced addresses, sorted, as one string to compare. */
function addressesOf(libp2p: TrustixLibp2p): string {
  return libp2p.getMultiaddrs().map(String).sort().join(' ');
}

/** Connected peers that serve the tile exchange: Trustix nodes, not the public DHT's. */
async function trustixPeers(libp2p: TrustixLibp2p): Promise<number> {
  const peers = new Set(libp2p.getConnections().map((c) => c.remotePeer.toString()));
  let n = 0;
  for (const c of libp2p.getPeers())
    if (peers.has(c.toString())) {
      const info = await libp2p.peerStore.get(c).catch(() => undefined);
      if (info?.protocols.includes(TILES_PROTOCOL)) n++;
    }
  return n;
}
