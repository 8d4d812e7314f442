/**
 * The libp2p host of a node's network side (node/assembly/network-side.ts), started first: the peer identity kept
 * in the data directory, peer bans and the per-address connection budget in its gater, the gossip
 * penalties in its peer scores, and libp2p's metrics in the node's registry. Its own module because
 * every later part is built on it, and the guards against misbehaving peers it holds (bans, penalties)
 * are shared with them.
 */
import { logger } from '@libp2p/logger';
import { peerIdFromString } from '@libp2p/peer-id';
import { ConnectionBudget } from '../network/connection-budget.ts';
import { gossipScoreParams } from '../network/gossip.ts';
import { GossipPenalties } from '../network/gossip-penalties.ts';
import { createLibp2pNode } from '../network/libp2p-node.ts';
import type { TrustixLibp2p } from '../network/libp2p-services.ts';
import { PeerBans } from '../network/peer-bans.ts';
import { loadOrCreatePeerIdentity } from '../network/peer-identity.ts';
import { VERSION } from '../runtime/version.ts';
import type { NetworkSideComponents, NetworkSideInit } from './network-side-init.ts';
import type { StartedParts } from './started-parts.ts';

const log = logger('trustix:node');

/** The started host, with the guards the later parts share. */
export interface NetworkHost {
  readonly libp2p: TrustixLibp2p;
  readonly bans: PeerBans;
  readonly penalties: GossipPenalties;
}

/** Starts libp2p with its guards; its stop goes into `parts` first, so it stops last. */
export async function startNetworkHost(
  c: NetworkSideComponents,
  init: NetworkSideInit,
  parts: StartedParts,
): Promise<NetworkHost> {
  const { db } = c;
  const identity = await loadOrCreatePeerIdentity(c.dir);
  const p2p = init.p2p ?? {};
  const bans = new PeerBans(init.bans);
  const budget = new ConnectionBudget(init.connections);
  const penalties = new GossipPenalties();
  const libp2p = await createLibp2pNode({
    ...p2p,
    connectionGater: { ...p2p.connectionGater, ...bans.gater(), ...budget.gater() },
    db,
    privateKey: identity.privateKey,
    userAgent: `trustix/${VERSION}`,
    metrics: { registry: c.registry, statfsLocation: c.dir },
    // Below the republish period, so that a periodic republish of the same checkpoint goes out.
    gossipSeenTtlMs: Math.min(120_000, Math.floor((init.gossip?.republishIntervalMs ?? 60_000) / 2)),
    gossipScoreParams: { ...gossipScoreParams(penalties), ...p2p.gossipScoreParams },
  });
  parts.add(() => libp2p.stop());
  budget.start(libp2p);
  parts.add(() => budget.stop());
  // A banned peer is cut off now; the gater refuses it until the ban ends.
  parts.listen(bans, 'ban', (e) => {
    const { peer } = e.detail;
    Promise.resolve()
      .then(() => libp2p.hangUp(peerIdFromString(peer)))
      .catch((err: unknown) => log.error('hanging up on %s: %s', peer, err));
  });
  return { libp2p, bans, penalties };
}
