/**
 * The transports a node dials and listens with: TCP, circuit relay v2, and WebRTC private-to-private
 * when on (Libp2pNodeInit.webrtc; docs/ARCHITECTURE.md, "Reachability behind NAT"). Its own module
 * because WebRTC brings matters of its own: it is loaded only when on, and its ICE asks, per connection,
 * the STUN servers node/network/stun-servers.ts chooses.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import type { Libp2p } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import type { Libp2pOptions } from 'libp2p';
import type { Libp2pNodeInit } from './libp2p-node-init.ts';
import { checkLocalStun, stunOfBootstrap, stunOfPeers } from './stun-servers.ts';

/** Libp2pNodeInit.webrtc once on: its STUN options. */
export type WebRTCInit = Exclude<Libp2pNodeInit['webrtc'], boolean | undefined>;

/**
 * The transports of a node; with `webrtc`, ICE asks its `stun` servers (default: those of
 * `bootstrapList`) and connected Trustix relays found through `node` (undefined until the node is
 * built). Under localOnly a STUN server not named by a local address throws RangeError.
 */
export async function transports(
  webrtc: WebRTCInit | undefined,
  bootstrapList: readonly string[],
  localOnly: boolean,
  node: () => Pick<Libp2p, 'getConnections' | 'peerStore'> | undefined,
): Promise<NonNullable<Libp2pOptions['transports']>> {
  const stun = [...(webrtc?.stun ?? stunOfBootstrap(bootstrapList, localOnly))];
  if (localOnly) for (const url of stun) checkLocalStun(url);
  const stunFromPeers = webrtc?.stunFromPeers ?? webrtc?.stun === undefined;
  // Loaded only when on: it brings libdatachannel's native library and ~10 MB of resident memory.
  const webRTC = webrtc && (await import('@libp2p/webrtc')).webRTC;
  // The relay transport dials relayed addresses and, with `/p2p-circuit` listen addresses, reserves slots.
  return [
    tcp(),
    circuitRelayTransport(),
    ...(webRTC
      ? [
          webRTC({
            // A function: @libp2p/webrtc fills a missing iceServers with public STUN servers, in place.
            // Called per connection, so the Trustix relays connected at that moment can be added.
            rtcConfiguration: async () => {
              const self = node();
              const peers = stunFromPeers && self ? await stunOfPeers(self, localOnly) : [];
              return { iceServers: [...new Set([...stun, ...peers])].map((urls) => ({ urls })) };
            },
          }),
        ]
      : []),
  ];
}
