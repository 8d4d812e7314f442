/**
 * What the network side of a node (node/assembly/network-side.ts) is given: the node's parts it wires to
 * (NetworkSideComponents) and its settings (NetworkSideInit). Apart from the assembly because the node's
 * own settings (TrustixNodeInit) extend these, and every stage of the network side reads them without
 * needing the others.
 */
import type { Registry } from 'prom-client';
import type { WitnessSigner } from '../../protocol/cosignature.ts';
import type { CheckpointMonitor } from '../monitor/checkpoint-monitor.ts';
import type { CatchupClientInit } from '../network/catchup-client.ts';
import type { CatchupServiceInit } from '../network/catchup-service.ts';
import type { ConnectionBudgetInit } from '../network/connection-budget.ts';
import type { GossipInit } from '../network/gossip.ts';
import type { Libp2pNodeInit } from '../network/libp2p-node-init.ts';
import type { LightLogsInit } from '../network/light-logs-init.ts';
import type { LogProvidersInit } from '../network/log-providers.ts';
import type { LookupClientInit } from '../network/lookup-client-init.ts';
import type { LookupServiceInit } from '../network/lookup-service.ts';
import type { PeerBansInit } from '../network/peer-bans.ts';
import type { PeerSourcesInit } from '../network/peer-sources.ts';
import type { ProviderListInit } from '../network/provider-list.ts';
import type { RendezvousInit } from '../network/rendezvous.ts';
import type { TileExchangeInit } from '../network/tile-exchange-init.ts';
import type { OwnLog } from '../own-log/own-log.ts';
import type { Database } from '../store/database.ts';
import type { FollowedLogs } from '../store/followed-logs.ts';
import type { LogDirectory } from '../store/log-reader.ts';
import type { FollowerComponents, FollowerInit } from '../sync/follower.ts';

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
