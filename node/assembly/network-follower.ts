/**
 * The follower of a node's network side (node/assembly/network-side.ts) and where its syncs fetch from: the kept
 * list of a log's DHT providers, the peer sources, and the blame of a source whose tiles fail (evidence of
 * a fork, or a ban). Built here, started by network-side.ts once its events are wired. Its own module
 * because these decide whom a sync of a followed log asks, and what a failed source costs it.
 */
import { logger } from '@libp2p/logger';
import { formatCheckpointMessage } from '../../protocol/gossip-message.ts';
import type { Gossip } from '../network/gossip.ts';
import type { LogProviders } from '../network/log-providers.ts';
import { PeerSources } from '../network/peer-sources.ts';
import { ProviderList } from '../network/provider-list.ts';
import { SourceBlame } from '../network/source-blame.ts';
import { Follower } from '../sync/follower.ts';
import type { NetworkHost } from './network-host.ts';
import type { NetworkSideComponents, NetworkSideInit } from './network-side-init.ts';

const log = logger('trustix:node');

export interface NetworkFollower {
  readonly providerList: ProviderList;
  readonly sources: PeerSources;
  readonly blame: SourceBlame;
  readonly follower: Follower;
}

/** Builds the follower with its sources; nothing here is started. */
export function createNetworkFollower(
  c: NetworkSideComponents,
  init: NetworkSideInit,
  host: NetworkHost,
  providers: LogProviders,
  gossip: Gossip,
): NetworkFollower {
  const { db, monitor, followed, own } = c;
  const { libp2p, bans } = host;
  // The syncs and the lookups ask for a log's providers often: one kept list per log, not a walk each time.
  const providerList = new ProviderList({ providers }, init.providerList);
  const sources = new PeerSources(
    { dialer: libp2p, providers: providerList, peerId: libp2p.peerId, bans },
    init.sources,
  );
  // A source whose tiles fail against our checkpoint is asked for its own first: the other branch of a
  // fork is evidence, not misbehaviour (docs/SECURITY.md).
  const blame = new SourceBlame({
    sourceOf: (id) => sources.source(id),
    keyOf: (logId) => followed.get(logId)?.key,
    monitor,
    publishEvidence: (bytes) => gossip.publishEvidence(bytes),
    ban: (id, logId, reason) => sources.ban(id, logId, reason),
  });
  const follower = new Follower(
    {
      db,
      followed,
      sourcesFor: (id, hint) => sources.sourcesFor(id, hint),
      sourcesOf: (id, peers) => sources.sourcesOf(id, peers),
      isForked: (id) => monitor.isForked(id),
      connectedPeers: () => libp2p.getPeers().length,
      ...(c.stored && { stored: c.stored }),
      // A log with a witness quorum: what a source says goes through the gate like gossip.
      offer: (id, note, from) => {
        const vkey = followed.get(id)?.vkey;
        if (!monitor.hasQuorum(id) || vkey === undefined) return false;
        monitor
          .validate(formatCheckpointMessage(vkey, note), from)
          .catch((err: unknown) => log.error('checkpoint of %s from %s: %s', id, from, err));
        return true;
      },
      dataDir: c.dir,
    },
    // Our own log is written by the sequencer: never by a sync, even if someone follows it.
    {
      storeDir: init.storeDir ?? '/nix/store',
      ...init.follower,
      exclude: [...(init.follower?.exclude ?? []), ...(own ? [own.store.logId] : [])],
    },
  );
  return { providerList, sources, blame, follower };
}
