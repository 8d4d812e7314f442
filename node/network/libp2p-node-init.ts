/**
 * What a Trustix libp2p node can be asked for (Libp2pNodeInit), and the defaults it falls back on. Kept
 * apart from the builder (node/network/libp2p-node.ts) so that the modules assembling the node's parts
 * (transports, peer discovery, DHTs, gossipsub, NAT services) read the same options without importing
 * the builder that imports them.
 */
import type { PeerScoreParams, PeerScoreThresholds } from '@libp2p/gossipsub/score';
import type { ConnectionGater, PrivateKey } from '@libp2p/interface';
import type { Registry } from 'prom-client';
import type { Database } from '../store/database.ts';
import type { BootstrapRedialerInit } from './bootstrap-redialer.ts';
import type { StunResponderInit } from './stun-responder.ts';

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
