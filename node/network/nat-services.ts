/**
 * The services that get connections through NAT (docs/ARCHITECTURE.md, "Reachability behind NAT"):
 * AutoNAT and DCUtR on every node, UPnP port mapping, the WebRTC upgrader, and on public nodes the STUN
 * responder and the circuit relay server. Apart from the builder because they are one concern, each on
 * or off by the node's role (behind NAT or public and relaying), the relay with limits of its own.
 */
import { autoNAT } from '@libp2p/autonat';
import { circuitRelayServer } from '@libp2p/circuit-relay-v2';
import { dcutr } from '@libp2p/dcutr';
import { uPnPNAT } from '@libp2p/upnp-nat';
import type { ServiceFactoryMap } from 'libp2p';
import {
  RELAY_DATA_LIMIT_BYTES,
  RELAY_DURATION_LIMIT_MS,
  RELAY_MAX_RESERVATIONS,
} from '../../protocol/constants.ts';
import type { Libp2pNodeInit } from './libp2p-node-init.ts';
import type { TrustixServices } from './libp2p-services.ts';
import { type StunResponderInit, stunResponder } from './stun-responder.ts';
import { webRTCUpgrader } from './webrtc-upgrader.ts';

/** Libp2pNodeInit.relayServer once on: its limits. */
export type RelayServerInit = Exclude<Libp2pNodeInit['relayServer'], boolean | undefined>;

export interface NatServicesInit {
  /** Ask a UPnP or NAT-PMP gateway to forward the listen port. */
  readonly upnp: boolean;
  /** WebRTC is on: relayed connections are upgraded to direct ones. */
  readonly webrtc: boolean;
  /** Answer STUN (node/network/stun-responder.ts) at the `listen` addresses; undefined: not at all. */
  readonly stun: StunResponderInit | undefined;
  /** The node's TCP listen addresses. */
  readonly listen: readonly string[];
  /** Serve as a circuit relay v2 with these limits; undefined: not a relay. */
  readonly relay: RelayServerInit | undefined;
}

/** A node's NAT services, by their names in TrustixServices. */
export function natServices(
  init: NatServicesInit,
): Pick<
  ServiceFactoryMap<TrustixServices>,
  'autoNAT' | 'dcutr' | 'upnp' | 'webrtcUpgrader' | 'stun' | 'relay'
> {
  const { upnp, webrtc, stun, listen, relay } = init;
  return {
    // AutoNAT asks connected peers to dial back our addresses (public or not); DCUtR upgrades a relayed
    // connection to a direct one by a synchronised simultaneous dial. Both talk only to connected peers.
    autoNAT: autoNAT(),
    dcutr: dcutr(),
    ...(upnp && { upnp: uPnPNAT() }),
    ...(webrtc && { webrtcUpgrader: webRTCUpgrader() }),
    ...(stun && { stun: stunResponder(listen, stun) }),
    ...(relay && {
      relay: circuitRelayServer({
        reservations: {
          maxReservations: relay.maxReservations ?? RELAY_MAX_RESERVATIONS,
          defaultDataLimit: BigInt(relay.dataLimitBytes ?? RELAY_DATA_LIMIT_BYTES),
          defaultDurationLimit: relay.durationLimitMs ?? RELAY_DURATION_LIMIT_MS,
        },
      }),
    }),
  };
}
