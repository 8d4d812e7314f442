/**
 * The assembly of a bootstrap node (`trustix bootstrap`, docs/guides/bootstrap.md): a public Trustix node
 * with no log of its own. It serves the Trustix DHT, relays gossip (validating it), relays connections
 * for nodes behind NAT within the limits of protocol/constants.ts, passes peers on by gossip peer
 * exchange, answers STUN at its TCP port for nodes behind NAT (so that they punch through with WebRTC),
 * and joins the public DHT as a client like any node (not under TRUSTIX_LOCAL_ONLY).
 */

import type { TrustixNodeInit } from '../node/index.ts';
import { isLocalOnly } from '../node/index.ts';

/** Network settings the flags give (listen, announce, bootstrap). */
export type BootstrapNetwork = Omit<Exclude<TrustixNodeInit['p2p'], false | undefined>, 'maxConnections'>;

export interface BootstrapNodeOptions {
  readonly dataDir: string;
  /** Connections kept before pruning. Default 1,000: a bootstrap node meets everyone. */
  readonly maxConnections?: number;
  /** Serve /metrics here. Default: no HTTP. */
  readonly http?: { readonly host: string; readonly port: number };
  /**
   * Answer STUN (node/network/stun-responder.ts): true at each TCP listen address's host and port, a
   * number for another UDP port, false not at all. Default true: nodes behind NAT that name this node
   * as a bootstrap peer ask it for their NAT-mapped address.
   */
  readonly stun?: boolean | number;
}

/** The TrustixNode settings of a bootstrap node. */
export function bootstrapNodeInit(network: BootstrapNetwork, options: BootstrapNodeOptions): TrustixNodeInit {
  return {
    dataDir: options.dataDir,
    role: 'bootstrap',
    http: options.http === undefined ? false : { host: options.http.host, port: options.http.port },
    p2p: {
      ...network,
      maxConnections: options.maxConnections ?? 1000,
      gossipPeerExchange: true,
      // A public node: it serves the DHT and relays for nodes behind NAT.
      dhtClientMode: false,
      relayServer: true,
      stunResponder: typeof options.stun === 'number' ? { port: options.stun } : (options.stun ?? true),
      publicDht: !isLocalOnly(),
    },
  };
}
