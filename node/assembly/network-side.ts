/**
 * The network side of a node (node/assembly/trustix-node-lifecycle.ts starts it unless `p2p` is false): libp2p
 * with peer bans, checkpoint and evidence gossip, checkpoint catch-up with peers on connect, the tile
 * exchange serving every log the node holds, DHT provider records, and the follower that mirrors the
 * followed logs from peers; wired to the checkpoint monitor
 * (whose quorum gate, 'newest' and newest(), is the only way a followed log's newest checkpoint reaches the
 * follower), to the node's own log, and on a witnessing node to the witness. Started in dependency order,
 * stopped in reverse. The stages, each in its own module: the libp2p host (node/assembly/network-host.ts), gossip
 * and catch-up (network-gossip.ts), the tile exchange, provider records and rendezvous
 * (network-presence.ts), the follower and its sources (network-follower.ts), the lookups and light logs
 * (network-light.ts); what the network side is given: network-side-init.ts. This module runs them in
 * order and wires their events to each other.
 */
import { logger } from '@libp2p/logger';
import type { CatchupClient } from '../network/catchup-client.ts';
import type { TrustixLibp2p } from '../network/libp2p-services.ts';
import type { LightLogs } from '../network/light-logs.ts';
import type { LookupClient } from '../network/lookup-client.ts';
import type { LookupService } from '../network/lookup-service.ts';
import { Witness } from '../network/witness.ts';
import type { Follower } from '../sync/follower.ts';
import { createNetworkFollower } from './network-follower.ts';
import { startNetworkGossip } from './network-gossip.ts';
import { startNetworkHost } from './network-host.ts';
import { startNetworkLight } from './network-light.ts';
import { startNetworkPresence } from './network-presence.ts';
import type { NetworkSideComponents, NetworkSideInit } from './network-side-init.ts';
import { StartedParts } from './started-parts.ts';

const log = logger('trustix:node');

export interface NetworkSide {
  readonly libp2p: TrustixLibp2p;
  readonly follower: Follower;
  /** The logs followed light, and their lookups. */
  readonly light: LightLogs;
  readonly lookupService: LookupService;
  readonly lookups: LookupClient;
  readonly catchup: CatchupClient;
  stop(): Promise<void>;
}

export async function startNetworkSide(
  c: NetworkSideComponents,
  init: NetworkSideInit = {},
): Promise<NetworkSide> {
  const parts = new StartedParts();
  try {
    return await assemble(c, init, parts);
  } catch (err) {
    await parts.stop();
    throw err;
  }
}

async function assemble(
  c: NetworkSideComponents,
  init: NetworkSideInit,
  parts: StartedParts,
): Promise<NetworkSide> {
  const { monitor, followed } = c;
  const host = await startNetworkHost(c, init, parts);
  const { libp2p } = host;
  const { gossip, catchup } = await startNetworkGossip(c, init, parts, host);
  const providers = await startNetworkPresence(c, init, parts, libp2p, gossip);
  const fetching = createNetworkFollower(c, init, host, providers, gossip);
  const { providerList, sources, blame, follower } = fetching;
  const witness = c.witness && new Witness({ store: (id) => follower.get(id), monitor, gossip }, c.witness);
  const { lookupService, lookups, light } = await startNetworkLight(c, init, parts, host, fetching);
  parts.listen(follower, 'synced', (e) => {
    const { logId } = e.detail;
    providers.provide(logId);
    sources.servedBy(logId, follower.status(logId)?.sources ?? []);
    (witness ? witness.synced(logId) : monitor.checkTree(logId)).catch((err: unknown) =>
      log.error('checking %s: %s', logId, err),
    );
  });
  parts.listen(follower, 'fork', (e) => {
    const { error } = e.detail;
    if (error.evidence !== undefined)
      gossip.publishEvidence(error.evidence.bytes).catch((err: unknown) => log.error('evidence: %s', err));
  });
  parts.listen(follower, 'source-failed', (e) => void blame.judge(e.detail));
  // A failed sync's providers may be stale, or known at stale addresses (a builder behind NAT announces
  // again once it holds a relay reservation): its next attempt waits for a new DHT walk, which also
  // brings their current addresses into the peer store (and keeps them if it finds nobody).
  parts.listen(follower, 'sync-failed', (e) => providerList.renew(e.detail.logId));
  // A log followed after its checkpoints were gossiped: those were duplicates by now and will not
  // come again as events, so hand the follower the newest one the monitor saw.
  parts.listen(followed, 'followed', (e) => {
    const { logId } = e.detail;
    // Our peers may know checkpoints of it this node never saw: ask them.
    catchup.askConnected();
    monitor.keep(logId).catch((err: unknown) => log.error('keeping %s: %s', logId, err));
    monitor.newest(logId).then(
      (note) => note && follower.notify(logId, note),
      (err: unknown) => log.error('latest checkpoint of %s: %s', logId, err),
    );
  });
  parts.listen(followed, 'unfollowed', (e) => {
    witness?.forget(e.detail.logId);
    gossip.forgetCosigned(e.detail.logId);
  });
  parts.listen(monitor, 'newest', (e) => {
    const event = e.detail;
    follower.notify(event.logId, event.checkpoint.note, event.from);
  });
  await follower.start();
  parts.add(() => follower.stop());
  // A copy held since before a restart is provided now: no 'synced' comes until the log grows, and a
  // log whose builder is away would otherwise have no provider for light nodes to find.
  for (const store of follower.list()) if (store.size > 0) providers.provide(store.logId);
  // After a restart too: checkpoints seen before are duplicates to gossip now.
  for (const f of followed.list()) {
    const note = await monitor.newest(f.logId);
    if (note !== undefined) follower.notify(f.logId, note);
  }
  // A witness cosigns what it verified before the restart too: no 'synced' comes until the log grows.
  if (witness !== undefined)
    for (const f of followed.list())
      witness.synced(f.logId).catch((err: unknown) => log.error('cosigning %s: %s', f.logId, err));
  return { libp2p, follower, light, lookupService, lookups, catchup, stop: () => parts.stop() };
}
