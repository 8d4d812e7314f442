/**
 * The DHTs of a Trustix node: its private kad-dht on `/trustix/kad/1.0.0` (docs/PROTOCOL.md "Network"),
 * and, when joined, the public Amino DHT as a client. One module because both are kad-dht services whose
 * peer records must keep or drop private addresses by the same rule, and whose provider records go out
 * together (providingDhts).
 */
import type { PeerInfo } from '@libp2p/interface';
import {
  type KadDHT,
  type KadDHTComponents,
  kadDHT,
  passthroughMapper,
  removePrivateAddressesMapper,
  type SingleKadDHT,
} from '@libp2p/kad-dht';
import { isPrivate } from '@libp2p/utils';
import type { Multiaddr } from '@multiformats/multiaddr';
import { DHT_PROTOCOL, PUBLIC_DHT_DATASTORE_PREFIX, PUBLIC_DHT_PROTOCOL } from '../../protocol/constants.ts';
import type { Libp2pNodeInit } from './libp2p-node-init.ts';
import type { TrustixLibp2p } from './libp2p-services.ts';

/**
 * The Trustix DHT service, with Libp2pNodeInit's DHT options; `own` gives this node's addresses
 * (dhtAddressMapper).
 */
export function trustixDht(
  init: Pick<Libp2pNodeInit, 'dhtClientMode' | 'dhtPrivateAddresses'>,
  own: () => readonly Multiaddr[],
): (components: KadDHTComponents) => KadDHT {
  return kadDHT({
    protocol: DHT_PROTOCOL,
    ...(init.dhtClientMode !== 'auto' && { clientMode: init.dhtClientMode ?? false }),
    peerInfoMapper: dhtAddressMapper(init.dhtPrivateAddresses ?? 'auto', own),
  });
}

/** The public Amino DHT service (Libp2pNodeInit.publicDht), as a client. */
export function aminoDht(
  publicDht: true | { readonly privateAddresses?: boolean },
): (components: KadDHTComponents) => KadDHT {
  return kadDHT({
    protocol: PUBLIC_DHT_PROTOCOL,
    // Never a server of the public DHT: we use it, we do not carry it.
    clientMode: true,
    // Its own datastore keys, metrics and logs: the Trustix DHT's records stay apart.
    datastorePrefix: PUBLIC_DHT_DATASTORE_PREFIX,
    metricsPrefix: 'libp2p_amino_dht',
    logPrefix: 'libp2p:amino-dht',
    peerInfoMapper:
      typeof publicDht === 'object' && publicDht.privateAddresses
        ? passthroughMapper
        : removePrivateAddressesMapper,
  });
}

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
