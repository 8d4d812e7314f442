/**
 * The network side of a node (node/trustix-node.ts starts it unless `p2p` is false): libp2p with peer
 * bans, checkpoint and evidence gossip, checkpoint catch-up with peers on connect, the tile exchange serving every log the node holds, DHT provider
 * records, and the follower that mirrors the followed logs from peers; wired to the checkpoint monitor
 * (whose quorum gate, 'newest' and newest(), is the only way a followed log's newest checkpoint reaches the
 * follower), to the node's own log, and on a witnessing node to the witness. Started in dependency order,
 * stopped in reverse.
 */
import type { PeerId } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Registry } from 'prom-client';
import { TILES_PROTOCOL } from '../protocol/constants.ts';
import type { WitnessSigner } from '../protocol/cosignature.ts';
import { formatCheckpointMessage } from '../protocol/gossip-message.ts';
import type { CheckpointMonitor } from './monitor/checkpoint-monitor.ts';
import { type CatchupClient, type CatchupClientInit, catchupClient } from './network/catchup-client.ts';
import { type CatchupServiceInit, catchupService } from './network/catchup-service.ts';
import { ConnectionBudget, type ConnectionBudgetInit } from './network/connection-budget.ts';
import { providingDhts } from './network/dhts.ts';
import { Gossip, type GossipInit, gossipScoreParams } from './network/gossip.ts';
import { GossipPenalties } from './network/gossip-penalties.ts';
import { createLibp2pNode } from './network/libp2p-node.ts';
import type { Libp2pNodeInit } from './network/libp2p-node-init.ts';
import type { TrustixLibp2p } from './network/libp2p-services.ts';
import { LightLogs } from './network/light-logs.ts';
import type { LightLogsInit } from './network/light-logs-init.ts';
import { LogProviders, type LogProvidersInit } from './network/log-providers.ts';
import { LookupClient } from './network/lookup-client.ts';
import type { LookupClientInit } from './network/lookup-client-init.ts';
import {
  lookupService as createLookupService,
  type LookupService,
  type LookupServiceInit,
} from './network/lookup-service.ts';
import { PeerBans, type PeerBansInit } from './network/peer-bans.ts';
import { loadOrCreatePeerIdentity } from './network/peer-identity.ts';
import { PeerSources, type PeerSourcesInit } from './network/peer-sources.ts';
import { ProviderList, type ProviderListInit } from './network/provider-list.ts';
import { Rendezvous, type RendezvousInit } from './network/rendezvous.ts';
import { SourceBlame } from './network/source-blame.ts';
import { TileExchange } from './network/tile-exchange.ts';
import type { TileExchangeInit } from './network/tile-exchange-init.ts';
import { Witness } from './network/witness.ts';
import type { OwnLog } from './own-log/own-log.ts';
import { VERSION } from './runtime/version.ts';
import { StartedParts } from './started-parts.ts';
import type { Database } from './store/database.ts';
import type { FollowedLogs } from './store/followed-logs.ts';
import type { LogDirectory } from './store/log-reader.ts';
import { Follower, type FollowerComponents, type FollowerInit } from './sync/follower.ts';

const log = logger('trustix:node');

export interface NetworkSideInit {
  /** libp2p settings. Default: listen on TCP 8566, no bootstrap peers. */
  readonly p2p?: Omit<Libp2pNodeInit, 'db' | 'privateKey' | 'start' | 'metrics'>;
  /** The Nix store directory of the logs' entries. Default '/nix/store'. */
  readonly storeDir?: string;
  readonly follower?: FollowerInit;
  readonly gossip?: GossipInit;
  readonly providers?: LogProvidersInit;
  /** How long the DHT providers found for a log serve the syncs and lookups before a new walk. */
  readonly providerList?: ProviderListInit;
  readonly tiles?: TileExchangeInit;
  /** Meeting Trustix peers on the public DHT (when p2p.publicDht is on). */
  readonly rendezvous?: RendezvousInit;
  /** How long a peer that served bad bytes is cut off. */
  readonly bans?: PeerBansInit;
  /** Sources of followed logs: how many peers per sync, static HTTP mirrors by log ID. */
  readonly sources?: PeerSourcesInit;
  /** Open connections per remote IP address and subnet; more inbound ones are refused. */
  readonly connections?: ConnectionBudgetInit;
  /** The lookup server (answers light nodes about the logs held here). */
  readonly lookupService?: LookupServiceInit;
  /** The lookup client of light logs. */
  readonly lookups?: Omit<LookupClientInit, 'storeDir'>;
  /** Light logs' consistency checks. */
  readonly light?: LightLogsInit;
  /** Checkpoint catch-up: the server answering peers, and the client asking them on connect. */
  readonly catchupService?: CatchupServiceInit;
  readonly catchup?: CatchupClientInit;
}

export interface NetworkSideComponents {
  readonly db: Database;
  /** The data directory, where the peer identity is kept. */
  readonly dir: string;
  readonly followed: FollowedLogs;
  readonly monitor: CheckpointMonitor;
  /** The node's own log: gossiped and provided, never synced. None on a bootstrap node. */
  readonly own: Pick<OwnLog, 'store' | 'sequencer'> | undefined;
  /** Every log the node holds, served to peers. */
  readonly logs: LogDirectory;
  /** The node's metrics registry, which libp2p adds its metrics to. */
  readonly registry: Registry;
  /** Told of what each sync stores (FollowerComponents.stored). */
  readonly stored?: FollowerComponents['stored'];
  /** The witness key, when the node witnesses: it cosigns the logs it follows (node/network/witness.ts). */
  readonly witness?: WitnessSigner;
}

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
  const { db, monitor, followed, own } = c;
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
  const witness = c.witness && new Witness({ store: (id) => follower.get(id), monitor, gossip }, c.witness);
  // Every log held in full is answered about to light nodes: our own, and the full followed ones.
  const lookupService = createLookupService(init.lookupService)({
    registrar: libp2p,
    held: (id) => (own !== undefined && id === own.store.logId ? own.store : follower.get(id)),
  });
  await lookupService.start();
  parts.add(() => lookupService.stop());
  const lookups = new LookupClient(
    {
      dialer: libp2p,
      providers: providerList,
      peerId: libp2p.peerId,
      bans,
      connectedPeers: () => lookupPeers(libp2p),
    },
    { storeDir: init.storeDir ?? '/nix/store', ...init.lookups },
  );
  const light = new LightLogs(
    {
      followed,
      monitor,
      lookups,
      sourcesFor: (id, hint) => sources.sourcesFor(id, hint),
      onSourceFailed: (f) => void blame.judge(f),
    },
    init.light,
  );
  await light.start();
  parts.add(() => light.stop());
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

/** Our announced addresses, sorted, as one string to compare. */
function addressesOf(libp2p: TrustixLibp2p): string {
  return libp2p.getMultiaddrs().map(String).sort().join(' ');
}

/** Connected peers, at most 16: asked last (one without the log says so and is passed over a while). */
function lookupPeers(libp2p: TrustixLibp2p): PeerId[] {
  const out: PeerId[] = [];
  for (const c of libp2p.getConnections()) {
    if (out.length >= 16) break;
    if (out.some((p) => p.equals(c.remotePeer))) continue;
    out.push(c.remotePeer);
  }
  return out;
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
