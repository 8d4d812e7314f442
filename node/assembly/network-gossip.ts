/**
 * How checkpoints travel on a node's network side (node/assembly/network-side.ts): gossip, wired to the checkpoint
 * monitor and carrying the node's own log, and the checkpoint catch-up with peers (the server answering
 * them, the client asking them on connect). Its own module because these are the two ways a checkpoint
 * reaches or leaves the node, both judged by the monitor.
 */
import { type CatchupClient, catchupClient } from '../network/catchup-client.ts';
import { catchupService } from '../network/catchup-service.ts';
import { Gossip } from '../network/gossip.ts';
import type { NetworkHost } from './network-host.ts';
import type { NetworkSideComponents, NetworkSideInit } from './network-side-init.ts';
import type { StartedParts } from './started-parts.ts';

export interface NetworkGossip {
  readonly gossip: Gossip;
  readonly catchup: CatchupClient;
}

/** Starts gossip, the catch-up server and the catch-up client, in that order, into `parts`. */
export async function startNetworkGossip(
  c: NetworkSideComponents,
  init: NetworkSideInit,
  parts: StartedParts,
  host: NetworkHost,
): Promise<NetworkGossip> {
  const { monitor, followed, own } = c;
  const { libp2p, penalties } = host;
  const ownInfo = own && { vkey: own.store.key.vkey, note: () => own.store.checkpoint()?.note };
  const gossip = new Gossip(
    { pubsub: libp2p.services.pubsub, monitor, penalties, ...(ownInfo ? { ownLog: ownInfo } : {}) },
    init.gossip,
  );
  gossip.start();
  parts.add(() => gossip.stop());
  // Late joiners: peers tell what gossip will not repeat; answers go through the monitor like gossip.
  const catchupServer = catchupService(init.catchupService)({
    registrar: libp2p,
    checkpoints: (id) => monitor.catchupMessages(id),
  });
  await catchupServer.start();
  parts.add(() => catchupServer.stop());
  const catchup = catchupClient(init.catchup)({
    node: libp2p,
    wanted: () => followed.list().map((f) => f.logId),
    validate: (bytes, from) => monitor.validate(bytes, from),
    penalise: (peer, points) => penalties.penalise(peer, points),
  });
  catchup.start();
  parts.add(() => catchup.stop());
  return { gossip, catchup };
}
