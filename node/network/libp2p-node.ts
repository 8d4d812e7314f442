/**
 * The libp2p node of Trustix, assembled as docs/PROTOCOL.md "Network" says: TCP, Noise, Yamux, identify,
 * ping, a private kad-dht on `/trustix/kad/1.0.0`, gossipsub (message ID = SHA-256 of the data),
 * bootstrap with a re-dial loop, connection limits, and a datastore in the node's own LevelDB.
 *
 * This module only builds the node. Topics, validators, protocol handlers and DHT records belong to
 * the modules that own them (gossip, tile exchange, providers), which use the services here.
 *
 * Several libp2p defaults fail silently on loopback and LANs; the defaults below are
 * chosen against each of them and documented where they are set.
 */
import '../runtime/promise-with-resolvers.ts';
import { createHash } from 'node:crypto';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { autoNAT } from '@libp2p/autonat';
import { bootstrap } from '@libp2p/bootstrap';
import {
  type CircuitRelayService,
  circuitRelayServer,
  circuitRelayTransport,
  RELAY_V2_HOP_CODEC,
} from '@libp2p/circuit-relay-v2';
import { dcutr } from '@libp2p/dcutr';
import { type GossipSub, gossipsub, StrictNoSign } from '@libp2p/gossipsub';
import type { PeerScoreParams, PeerScoreThresholds } from '@libp2p/gossipsub/score';
import { type Identify, identify } from '@libp2p/identify';
import type { ConnectionGater, Libp2p, PeerInfo, PrivateKey } from '@libp2p/interface';
import {
  type KadDHT,
  kadDHT,
  passthroughMapper,
  removePrivateAddressesMapper,
  type SingleKadDHT,
} from '@libp2p/kad-dht';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { type Ping, ping } from '@libp2p/ping';
import { prometheusMetrics } from '@libp2p/prometheus-metrics';
import { tcp } from '@libp2p/tcp';
import { uPnPNAT } from '@libp2p/upnp-nat';
import { isPrivate } from '@libp2p/utils';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { Level } from 'level';
import { createLibp2p, type Libp2pOptions } from 'libp2p';
import type { Registry } from 'prom-client';
import {
  CHECKPOINT_TOPIC,
  DHT_PROTOCOL,
  EVIDENCE_TOPIC,
  MAX_PROVIDER_RECORDS_PER_PEER,
  MDNS_SERVICE_TAG,
  PING_MAX_STREAMS,
  PUBLIC_DHT_DATASTORE_PREFIX,
  PUBLIC_DHT_PROTOCOL,
  RELAY_DATA_LIMIT_BYTES,
  RELAY_DURATION_LIMIT_MS,
  RELAY_MAX_RESERVATIONS,
} from '../../protocol/constants.ts';
import { TrustixError } from '../../protocol/errors.ts';
import type { Database } from '../store/database.ts';
import {
  type BootstrapRedialer,
  type BootstrapRedialerInit,
  bootstrapRedialer,
} from './bootstrap-redialer.ts';
import { lanDiscovery } from './lan-discovery.ts';
import { isLocalAddress, isLocalOnly, localOnlyGater } from './local-only.ts';
import { PeerRecordBufferedDatastore } from './peer-record-buffer.ts';
import type { ProviderCapInit } from './provider-cap.ts';
import { type StunResponderInit, type StunResponderService, stunResponder } from './stun-responder.ts';
import { type WebRTCUpgrader, webRTCUpgrader } from './webrtc-upgrader.ts';

/** The TCP port a node listens on by default, beside the HTTP port 8565. */
export const DEFAULT_P2P_PORT = 8566;
/**
 * Default listen addresses: every interface on DEFAULT_P2P_PORT. libp2p tolerates the IPv6 one failing
 * when IPv4 works (a host without IPv6); the IPv6 socket is IPv6-only, so the two do not collide.
 */
export const DEFAULT_LISTEN: readonly string[] = [
  `/ip4/0.0.0.0/tcp/${DEFAULT_P2P_PORT}`,
  `/ip6/::/tcp/${DEFAULT_P2P_PORT}`,
];
/** Default connection cap: a user node needs a gossip mesh and a DHT neighbourhood, not hundreds. */
export const DEFAULT_MAX_CONNECTIONS = 100;
/**
 * How often libp2p's connection monitor pings each connection (a new `/ipfs/ping/1.0.0` stream), and
 * closes it when the ping fails. libp2p's default, 10 s, is nearly all of an idle node's traffic: about
 * 60-76 B/s per connection, over docs/SCALE.md's 2 KB/s idle budget above ~30 connections. A dead
 * connection is still found without it (yamux pings every connection every 30 s, so TCP gives up on a
 * vanished peer after its retransmissions); the monitor's pings only make that quicker, and a minute is
 * quick enough for connections that carry gossip and tile requests, each bounded by its own timeout.
 */
export const CONNECTION_PING_INTERVAL_MS = 60_000;
/** Name of the LevelDB sublevel that holds libp2p's datastore (keys `!libp2p!...`). */
export const LIBP2P_SUBLEVEL = 'libp2p';
/**
 * Largest gossipsub RPC frame accepted. A frame carries a few messages and control data; the largest
 * message is an evidence document (MAX_EVIDENCE_BYTES, 64 KiB). libp2p's default is 4 MiB.
 */
export const MAX_GOSSIP_RPC_BYTES = 1024 * 1024;

/** A listen address could not be bound (typically: the port is in use by another node). */
export class ListenError extends TrustixError {
  constructor(detail: string, options?: ErrorOptions) {
    super('ERR_LISTEN', `cannot listen on ${detail}; choose another address with --listen`, options);
  }
}

/**
 * What the gossipsub service offers beyond its exported interface: its mesh, for status and tests.
 * Present on @libp2p/gossipsub 17's implementation; its published type leaves it out.
 */
export interface GossipMesh {
  getMeshPeers(topic: string): string[];
  /** A peer's current gossip score (below the graylist threshold, its messages are dropped). */
  getScore(peerId: string): number;
}

// A type alias, not an interface: libp2p's ServiceMap constraint needs the implicit index signature.
export type TrustixServices = {
  identify: Identify;
  ping: Ping;
  dht: KadDHT;
  pubsub: GossipSub & GossipMesh;
  redial: BootstrapRedialer;
  autoNAT: unknown;
  dcutr: unknown;
  upnp?: unknown;
  /** Present when WebRTC is on (Libp2pNodeInit.webrtc): relayed connections upgraded to direct ones. */
  webrtcUpgrader?: WebRTCUpgrader;
  /** The public Amino DHT, as a client (Libp2pNodeInit.publicDht). */
  amino?: KadDHT;
  /** Present on relaying nodes (Libp2pNodeInit.relayServer). */
  relay?: CircuitRelayService;
  /** Present on nodes that answer STUN (Libp2pNodeInit.stunResponder). */
  stun?: StunResponderService;
  /** Present with `db`: writes the peer records held in memory once libp2p stopped (peer-record-buffer.ts). */
  peerRecords?: unknown;
};

export type TrustixLibp2p = Libp2p<TrustixServices>;

/** The DHTs a node's provider records go to: Trustix's own, and the public one when it is joined. */
export function providingDhts(libp2p: TrustixLibp2p): SingleKadDHT[] {
  const { dht, amino } = libp2p.services;
  return (amino === undefined ? [dht] : [dht, amino]).map(singleDht);
}

/**
 * kad-dht's service for one protocol is a SingleKadDHT, whose routing table's size a provide's reach is
 * judged by (node/network/provide-reach.ts); its factory's type says only KadDHT.
 */
function singleDht(dht: KadDHT): SingleKadDHT {
  if (!('routingTable' in dht)) throw new TypeError('a kad-dht service without a routing table');
  return dht as SingleKadDHT;
}

export interface Libp2pNodeInit {
  /** The node's identity (node/network/peer-identity.ts). Default: a fresh key, so a new PeerId every run. */
  readonly privateKey?: PrivateKey;
  /**
   * The node's open LevelDB. libp2p's datastore (peer store, DHT provider records) lives in its
   * LIBP2P_SUBLEVEL; stop libp2p before closing the database. Default: in memory, nothing persisted.
   */
  readonly db?: Database;
  /** Listen multiaddrs. Default DEFAULT_LISTEN (TCP 8566, IPv4 and IPv6); tests use `/ip4/127.0.0.1/tcp/0`. */
  readonly listen?: readonly string[];
  /** Addresses to announce instead of the listen addresses (public nodes behind NAT). Default: none. */
  readonly announce?: readonly string[];
  /** Bootstrap multiaddrs, each ending in `/p2p/<PeerId>`. Default: none. */
  readonly bootstrap?: readonly string[];
  /** Re-dial timing while isolated (node/network/bootstrap-redialer.ts). Default: 1 s doubling to 60 s. */
  readonly redial?: Omit<BootstrapRedialerInit, 'list'>;
  /**
   * DHT provider records one peer may place in this node's datastore (with `db` only).
   * Default MAX_PROVIDER_RECORDS_PER_PEER (node/network/provider-cap.ts).
   */
  readonly maxProviderRecordsPerPeer?: number;
  /** Connections kept before pruning. Default DEFAULT_MAX_CONNECTIONS (100); bootstrap nodes want more. */
  readonly maxConnections?: number;
  /** How often each connection is pinged, in ms. Default CONNECTION_PING_INTERVAL_MS (60 s). */
  readonly pingIntervalMs?: number;
  /**
   * Multiaddr ranges (`/ip4/127.0.0.0/ipcidr/8`) exempt from the connection cap and the per-IP inbound
   * rate limit (5 connections/s). Needed when many nodes share one host, as in tests. Default: none.
   */
  readonly allowList?: readonly string[];
  /** Connections refused and dials not made, e.g. banned peers (node/network/peer-bans.ts). Default: none. */
  readonly connectionGater?: ConnectionGater;
  /**
   * DHT client only (no inbound DHT queries served). Default false: a Trustix DHT is small and every
   * reachable node should serve it; kad-dht's own default waits for a public address, which a LAN or
   * loopback node never sees. `'auto'` is that default of kad-dht: a client until AutoNAT or UPnP
   * confirms a public address, so a node behind NAT never advertises a DHT service nobody can reach.
   */
  readonly dhtClientMode?: boolean | 'auto';
  /**
   * Keep private and loopback addresses in DHT peer records: true always, false never, 'auto' (default)
   * only while this node itself has no public address, i.e. on a private network (a LAN, loopback, a
   * namespace). kad-dht drops them always by default, which silently breaks every LAN or loopback
   * network; keeping them on the Internet would let strangers make the node dial into its own LAN.
   */
  readonly dhtPrivateAddresses?: boolean | 'auto';
  /** IPs exempt from gossipsub's IP-colocation penalty (tests: `127.0.0.1`). Default: none. */
  readonly whitelistIps?: readonly string[];
  /** Gossipsub peer-score parameters (topic parameters come from the gossip module). Default: gossipsub's. */
  readonly gossipScoreParams?: Partial<PeerScoreParams>;
  /** Gossipsub score thresholds (gossip, publish, graylist...). Default: gossipsub's. */
  readonly gossipScoreThresholds?: Partial<PeerScoreThresholds>;
  /**
   * Gossipsub peer exchange: send pruned peers a list of other peers. Default false; gossipsub advises
   * it for well-connected, trusted nodes, so bootstrap nodes should set it.
   */
  readonly gossipPeerExchange?: boolean;
  /**
   * How long gossipsub remembers a message ID (and drops the same message, including our own republish).
   * Default 120 s (gossipsub's). Nodes that republish the same checkpoint periodically set it below
   * that period, or the republish never leaves the node.
   */
  readonly gossipSeenTtlMs?: number;
  /** The agent string peers see through identify (e.g. `trustix/0.1.0`). Default: libp2p's own. */
  readonly userAgent?: string;
  /**
   * Find peers on the local network by mDNS (service tag MDNS_SERVICE_TAG). Default: on, except under
   * `localOnly`, which turns it off unless this is set explicitly (tests in network namespaces do).
   */
  readonly mdns?: boolean | { readonly intervalMs?: number };
  /** Ask a UPnP or NAT-PMP gateway to forward the listen port. Default: on, except under `localOnly`. */
  readonly upnp?: boolean;
  /**
   * Join the public libp2p DHT (Amino, `/ipfs/kad/1.0.0`) as a client, as a meeting point only: libp2p's
   * content routing then provides and finds on it too (the rendezvous CID, log CIDs). Its bootstrap
   * peers are the bootstrap list. `privateAddresses` keeps private addresses in its peer records
   * (tests whose stand-in Amino runs on loopback). Default false.
   */
  readonly publicDht?: boolean | { readonly privateAddresses?: boolean };
  /**
   * Serve as a circuit relay v2 (public nodes, bootstrap nodes), with the limits of protocol/constants.ts
   * (RELAY_*; libp2p's own 128 KiB per connection would stop a sync). Default false.
   */
  readonly relayServer?:
    | boolean
    | {
        readonly maxReservations?: number;
        readonly dataLimitBytes?: number;
        readonly durationLimitMs?: number;
      };
  /**
   * Relay reservations to hold (a node behind NAT): for each, libp2p reserves a slot on a connected
   * relay and announces the relayed address `<relay>/p2p-circuit/p2p/<self>`. Default 0.
   */
  readonly relayReservations?: number;
  /**
   * WebRTC private-to-private (docs/ARCHITECTURE.md, "Reachability behind NAT"): listen on `/webrtc`,
   * so that a peer connected through a relay can open a direct connection, signalled over the relayed
   * one, with ICE punching through both NATs. `stun` lists the STUN servers (`stun:HOST:PORT`) ICE asks
   * for this node's NAT-mapped address; without one, only host candidates are offered (a LAN, or a peer
   * that is itself reachable). Default: off. Never @libp2p/webrtc's own default list (public STUN
   * servers of Google, Twilio, Cloudflare, Mozilla): the servers are always Trustix nodes or given
   * explicitly. Default `stun`: stunOfBootstrap(bootstrap), the bootstrap peers' IP addresses at their
   * TCP port, where a `trustix bootstrap` node answers STUN (stunResponder); under localOnly only the
   * local ones. `stunFromPeers` (default: true when `stun` is not given) adds, per connection, up to
   * MAX_PEER_STUN_SERVERS connected Trustix relays (stunOfPeers), which answer STUN at their TCP port.
   */
  readonly webrtc?: boolean | { readonly stun?: readonly string[]; readonly stunFromPeers?: boolean };
  /**
   * Answer STUN Binding Requests (node/network/stun-responder.ts) on UDP, at the host and port of each
   * TCP listen address (or `port`), so that nodes behind NAT can use this one as their STUN server.
   * Default: on for a relaying node (relayServer: a public node, `trustix bootstrap` or one with
   * `announce`), else off.
   */
  readonly stunResponder?: boolean | StunResponderInit;
  /**
   * Contact only the addresses given (node/network/local-only.ts): dials to routable addresses are
   * refused, and discovery that reaches beyond them (mDNS, UPnP) stays off. Default: on when
   * TRUSTIX_LOCAL_ONLY is set in the environment.
   */
  readonly localOnly?: boolean;
  /** Start the node before returning, as createLibp2p does (else call startLibp2pNode). Default true. */
  readonly start?: boolean;
  /**
   * libp2p's Prometheus metrics (@libp2p/prometheus-metrics: connections, streams, DHT, transfer...) on
   * this registry, never prom-client's global one; disk figures are for the filesystem holding
   * `statfsLocation` (default the working directory). Default: no metrics.
   */
  readonly metrics?: { readonly registry: Registry; readonly statfsLocation?: string };
}

/**
 * @libp2p/prometheus-metrics keeps one name-to-metric map per process and clears it when a node is
 * created: a node that registers a name after another node was created gets that node's metric, in the
 * other registry. libp2p's components register theirs when constructed and started, so nodes with
 * metrics are created and started one at a time (a node made with `start: false` is not covered).
 */
let metricsTurn: Promise<unknown> = Promise.resolve();

/** Gossipsub message ID: SHA-256 of the data, so the same checkpoint from any publisher is one message. */
export function gossipMessageId(msg: { data: Uint8Array }): Uint8Array {
  return createHash('sha256').update(msg.data).digest();
}

/** Builds (and by default starts) the libp2p node. */
export async function createLibp2pNode(init: Libp2pNodeInit = {}): Promise<TrustixLibp2p> {
  if (init.metrics === undefined) return buildLibp2pNode(init);
  const built = metricsTurn.then(() => buildLibp2pNode(init));
  metricsTurn = built.catch(() => {});
  return built;
}

async function buildLibp2pNode(init: Libp2pNodeInit): Promise<TrustixLibp2p> {
  const bootstrapList = [...(init.bootstrap ?? [])];
  const datastore =
    init.db === undefined
      ? undefined
      : await openDatastore(init.db, {
          // kad-dht's datastore prefixes: the private DHT's default, and the public one's below.
          prefixes: ['/dht', PUBLIC_DHT_DATASTORE_PREFIX],
          maxPerPeer: init.maxProviderRecordsPerPeer ?? MAX_PROVIDER_RECORDS_PER_PEER,
          ...(init.privateKey !== undefined && { self: peerIdFromPrivateKey(init.privateKey).toString() }),
        });
  // @libp2p/bootstrap refuses an empty list; it tags the peers and dials them once at start.
  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> =
    bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList, timeout: 0 })] : [];
  const localOnly = init.localOnly ?? isLocalOnly();
  // Under localOnly nothing reaches beyond the given addresses unless a caller turns it on explicitly.
  const mdnsInit = init.mdns ?? !localOnly;
  if (mdnsInit !== false)
    peerDiscovery.push(
      lanDiscovery({
        serviceTag: MDNS_SERVICE_TAG,
        ...(typeof mdnsInit === 'object' &&
          mdnsInit.intervalMs !== undefined && { interval: mdnsInit.intervalMs }),
      }),
    );
  const relay = init.relayServer === true ? {} : init.relayServer || undefined;
  const webrtc = init.webrtc === true ? {} : init.webrtc || undefined;
  const stun = [...(webrtc?.stun ?? stunOfBootstrap(bootstrapList, localOnly))];
  if (localOnly) for (const url of stun) checkLocalStun(url);
  const stunFromPeers = webrtc?.stunFromPeers ?? webrtc?.stun === undefined;
  const stunInit = init.stunResponder ?? relay !== undefined;
  const stunService = stunInit === true ? {} : stunInit || undefined;
  const listen = [...(init.listen ?? DEFAULT_LISTEN)];
  // Loaded only when on: it brings libdatachannel's native library and ~10 MB of resident memory.
  const webRTC = webrtc && (await import('@libp2p/webrtc')).webRTC;
  const whitelist = new Set([
    ...(init.gossipScoreParams?.IPColocationFactorWhitelist ?? []),
    ...(init.whitelistIps ?? []),
  ]);
  let self: TrustixLibp2p | undefined;
  const node = await createLibp2p<TrustixServices>({
    start: false,
    // libp2p's process figures (CPU, heap...) are node/routes/metrics.ts's, collected once per process.
    ...(init.metrics && { metrics: prometheusMetrics({ ...init.metrics, collectDefaultMetrics: false }) }),
    ...(init.privateKey === undefined ? {} : { privateKey: init.privateKey }),
    ...(datastore === undefined ? {} : { datastore }),
    ...(init.userAgent === undefined ? {} : { nodeInfo: { userAgent: init.userAgent } }),
    addresses: {
      listen: [
        ...listen,
        ...Array.from({ length: init.relayReservations ?? 0 }, () => '/p2p-circuit'),
        ...(webrtc ? ['/webrtc'] : []),
      ],
      announce: [...(init.announce ?? [])],
    },
    // The relay transport dials relayed addresses and, with `/p2p-circuit` listen addresses, reserves slots.
    transports: [
      tcp(),
      circuitRelayTransport(),
      ...(webRTC
        ? [
            webRTC({
              // A function: @libp2p/webrtc fills a missing iceServers with public STUN servers, in place.
              // Called per connection, so the Trustix relays connected at that moment can be added.
              rtcConfiguration: async () => {
                const peers = stunFromPeers && self ? await stunOfPeers(self, localOnly) : [];
                return { iceServers: [...new Set([...stun, ...peers])].map((urls) => ({ urls })) };
              },
            }),
          ]
        : []),
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { pingInterval: init.pingIntervalMs ?? CONNECTION_PING_INTERVAL_MS },
    connectionManager: {
      maxConnections: init.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      allow: [...(init.allowList ?? [])],
    },
    ...(localOnly
      ? { connectionGater: localOnlyGater(init.connectionGater) }
      : init.connectionGater && { connectionGater: init.connectionGater }),
    peerDiscovery,
    services: {
      identify: identify(),
      // kad-dht requires the ping service under this name.
      ping: ping({ maxOutboundStreams: PING_MAX_STREAMS, maxInboundStreams: PING_MAX_STREAMS }),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        ...(init.dhtClientMode !== 'auto' && { clientMode: init.dhtClientMode ?? false }),
        peerInfoMapper: dhtAddressMapper(
          init.dhtPrivateAddresses ?? 'auto',
          () => self?.getMultiaddrs() ?? [],
        ),
      }),
      ...(init.publicDht && {
        amino: kadDHT({
          protocol: PUBLIC_DHT_PROTOCOL,
          // Never a server of the public DHT: we use it, we do not carry it.
          clientMode: true,
          // Its own datastore keys, metrics and logs: the Trustix DHT's records stay apart.
          datastorePrefix: PUBLIC_DHT_DATASTORE_PREFIX,
          metricsPrefix: 'libp2p_amino_dht',
          logPrefix: 'libp2p:amino-dht',
          peerInfoMapper:
            typeof init.publicDht === 'object' && init.publicDht.privateAddresses
              ? passthroughMapper
              : removePrivateAddressesMapper,
        }),
      }),
      pubsub: withMesh(
        gossipsub({
          // Messages are signed checkpoints and evidence: the author's signature is inside the data, and
          // the ID is the data's hash, so libp2p signatures and sequence numbers would add nothing.
          globalSignaturePolicy: StrictNoSign,
          msgIdFn: gossipMessageId,
          // A node with no peers yet must still be able to publish; the periodic republish spreads it later.
          allowPublishToZeroTopicPeers: true,
          // Republishing the same checkpoint is expected, not an error.
          ignoreDuplicatePublishError: true,
          allowedTopics: [CHECKPOINT_TOPIC, EVIDENCE_TOPIC],
          maxInboundDataLength: MAX_GOSSIP_RPC_BYTES,
          // Checkpoints are small: they travel over relayed (limited) connections too.
          runOnLimitedConnection: true,
          doPX: init.gossipPeerExchange ?? false,
          ...(init.gossipSeenTtlMs === undefined ? {} : { seenTTL: init.gossipSeenTtlMs }),
          scoreParams: { ...init.gossipScoreParams, IPColocationFactorWhitelist: whitelist },
          ...(init.gossipScoreThresholds === undefined
            ? {}
            : { scoreThresholds: init.gossipScoreThresholds }),
        }),
      ),
      redial: bootstrapRedialer({ list: bootstrapList, ...init.redial }),
      ...(datastore && {
        peerRecords: () => ({ start() {}, stop() {}, afterStop: () => datastore.flush() }),
      }),
      // AutoNAT asks connected peers to dial back our addresses (public or not); DCUtR upgrades a relayed
      // connection to a direct one by a synchronised simultaneous dial. Both talk only to connected peers.
      autoNAT: autoNAT(),
      dcutr: dcutr(),
      ...((init.upnp ?? !localOnly) && { upnp: uPnPNAT() }),
      ...(webrtc && { webrtcUpgrader: webRTCUpgrader() }),
      ...(stunService && { stun: stunResponder(listen, stunService) }),
      ...(relay && {
        relay: circuitRelayServer({
          reservations: {
            maxReservations: relay.maxReservations ?? RELAY_MAX_RESERVATIONS,
            defaultDataLimit: BigInt(relay.dataLimitBytes ?? RELAY_DATA_LIMIT_BYTES),
            defaultDurationLimit: relay.durationLimitMs ?? RELAY_DURATION_LIMIT_MS,
          },
        }),
      }),
    },
  });
  self = node;
  if (init.start ?? true) await startLibp2pNode(node);
  return node;
}

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
function checkLocalStun(url: string): void {
  const m = /^stun:(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(url);
  const host = m?.[1]?.replace(/^\[|\]$/g, '');
  if (host === undefined || !isLocalAddress(host))
    throw new RangeError(`STUN server ${url}: not a local address (${LOCAL_ONLY_NOTE})`);
}

const LOCAL_ONLY_NOTE = 'TRUSTIX_LOCAL_ONLY contacts only loopback and non-routable addresses';

/**
 * kad-dht's peer info mapper for Libp2pNodeInit.dhtPrivateAddresses: with 'auto', other peers' private
 * and loopback addresses are kept only while every address of this node (`own`) is private itself.
 */
export function dhtAddressMapper(
  mode: boolean | 'auto',
  own: () => readonly Multiaddr[],
): (peer: PeerInfo) => PeerInfo {
  if (mode === true) return (peer) => peer;
  if (mode === false) return removePrivateAddressesMapper;
  // kad-dht maps every peer of every message; libp2p computes its addresses anew on each call (a 25-node
  // swarm spent ~4% of its CPU there), and they change rarely: the answer is kept for a second.
  let checkedAt = Number.NEGATIVE_INFINITY;
  let ownPrivate = true;
  return (peer) => {
    const now = performance.now();
    if (now - checkedAt > OWN_ADDRESSES_CHECK_MS) {
      ownPrivate = own().every((a) => isPrivate(a));
      checkedAt = now;
    }
    return ownPrivate ? peer : removePrivateAddressesMapper(peer);
  };
}

/** How long dhtAddressMapper's 'auto' keeps its answer to "are all our addresses private?", in ms. */
const OWN_ADDRESSES_CHECK_MS = 1_000;

/**
 * Starts a node made with `start: false`. A listen address that cannot be bound (in use, not local)
 * gives ListenError; libp2p has stopped whatever it had started by then.
 */
export async function startLibp2pNode(node: TrustixLibp2p): Promise<void> {
  try {
    await node.start();
  } catch (err) {
    if ((err as Error).name === 'UnsupportedListenAddressesError') {
      const reasons = [...(err as Error).message.matchAll(/^\s*(\/\S+): (?:\w*Error: )?(.*)$/gm)].map(
        (m) => `${m[1]} (${m[2]})`,
      );
      throw new ListenError(reasons.length > 0 ? reasons.join(', ') : (err as Error).message, { cause: err });
    }
    throw err;
  }
}

/** Types the gossipsub factory with the mesh accessor its implementation has (checked at creation). */
function withMesh<C>(factory: (components: C) => GossipSub): (components: C) => GossipSub & GossipMesh {
  return (components) => {
    const service = factory(components) as GossipSub & Partial<GossipMesh>;
    if (typeof service.getMeshPeers !== 'function' || typeof service.getScore !== 'function')
      throw new TypeError('gossipsub without getMeshPeers or getScore');
    return service as GossipSub & GossipMesh;
  };
}

/**
 * libp2p's datastore over a sublevel of the node's LevelDB. datastore-level accepts any Level-shaped
 * database; a sublevel is one (same get/put/batch/iterator API, keys prefixed `!libp2p!`), though
 * its TypeScript type is AbstractSublevel rather than Level. libp2p does not open the datastore.
 */
async function openDatastore(db: Database, cap: ProviderCapInit): Promise<PeerRecordBufferedDatastore> {
  const sublevel = db.sublevel<string, Uint8Array>(LIBP2P_SUBLEVEL, {
    keyEncoding: 'utf8',
    valueEncoding: 'view',
  });
  const datastore = new PeerRecordBufferedDatastore(sublevel as unknown as Level<string, Uint8Array>, cap);
  await datastore.open();
  return datastore;
}
