/**
 * The services of a Trustix libp2p node, by name (TrustixServices), and the node's type (TrustixLibp2p).
 * A module of its own because nearly every network module uses a built node without building one: they
 * import these types, never the builder (node/network/libp2p-node.ts) and the libp2p packages it loads.
 */
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2';
import type { GossipSub } from '@libp2p/gossipsub';
import type { Identify } from '@libp2p/identify';
import type { Libp2p } from '@libp2p/interface';
import type { KadDHT } from '@libp2p/kad-dht';
import type { Ping } from '@libp2p/ping';
import type { BootstrapRedialer } from './bootstrap-redialer.ts';
import type { GossipMesh } from './gossip-router.ts';
import type { StunResponderService } from './stun-responder.ts';
import type { WebRTCUpgrader } from './webrtc-upgrader.ts';

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
