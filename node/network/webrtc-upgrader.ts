/**
 * Turns a relayed connection into a direct WebRTC one (docs/ARCHITECTURE.md, "Reachability behind NAT").
 *
 * @libp2p/webrtc's private-to-private transport dials `<relay>/p2p-circuit/webrtc/p2p/<peer>`: it signals
 * over the relayed connection (`/webrtc-signaling/0.0.1`) and lets ICE punch through both NATs. Nothing in
 * libp2p dials such an address by itself once a relayed connection exists (DCUtR upgrades only to
 * addresses AutoNAT confirmed, which never happens behind NAT). So: when identify tells us that a peer
 * we reached through a relay listens on WebRTC, or its addresses change to include one later (its relay
 * reservation came after our identify), we dial that address. Only the side that opened the relayed
 * connection dials, so the two sides do not race each other with two offers; one dial per peer at a time.
 */
import type {
  AbortOptions,
  ComponentLogger,
  Connection,
  IdentifyResult,
  Libp2pEvents,
  Logger,
  PeerId,
  PeerUpdate,
  Startable,
  TypedEventTarget,
} from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';

export interface WebRTCUpgraderInit {
  /** Time allowed for one WebRTC dial (signalling and ICE), in ms. Default 30_000. */
  readonly dialTimeout?: number;
}

export interface WebRTCUpgraderComponents {
  readonly connectionManager: {
    getConnections(peerId?: PeerId): Connection[];
    openConnection(addr: Multiaddr, options?: AbortOptions): Promise<Connection>;
  };
  readonly events: TypedEventTarget<Libp2pEvents>;
  readonly logger: ComponentLogger;
}

export interface WebRTCUpgrader {
  /** Direct WebRTC connections this node opened in place of a relayed one. */
  readonly upgraded: number;
  /** Upgrade attempts that failed (the relayed connection stays in use). */
  readonly failed: number;
}

const DEFAULT_DIAL_TIMEOUT = 30_000;

/** Whether a multiaddr goes through a circuit relay. */
function isRelayed(ma: Multiaddr): boolean {
  return ma.getComponents().some((c) => c.name === 'p2p-circuit');
}

/** Whether a multiaddr is a WebRTC (private-to-private) one: `.../p2p-circuit/webrtc[/p2p/<peer>]`. */
export function isWebRTCAddress(ma: Multiaddr): boolean {
  return ma.getComponents().some((c) => c.name === 'webrtc');
}

class DefaultWebRTCUpgrader implements WebRTCUpgrader, Startable {
  readonly [Symbol.toStringTag] = 'trustix:webrtc-upgrader';
  upgraded = 0;
  failed = 0;
  private readonly components: WebRTCUpgraderComponents;
  private readonly log: Logger;
  private readonly dialTimeout: number;
  /** Peers with a dial under way: one at a time per peer. */
  private readonly dialing = new Set<string>();
  private running = false;
  private readonly onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const { peerId, listenAddrs, connection } = event.detail;
    void this.maybeUpgrade(peerId, listenAddrs, connection);
  };
  private readonly onPeerUpdate = (event: CustomEvent<PeerUpdate>): void => {
    const { peer, previous } = event.detail;
    const had = new Set(
      previous?.addresses.filter((a) => isWebRTCAddress(a.multiaddr)).map((a) => a.multiaddr.toString()),
    );
    const added = peer.addresses
      .map((a) => a.multiaddr)
      .filter((a) => isWebRTCAddress(a) && !had.has(a.toString()));
    if (added.length === 0) return;
    const relayed = this.components.connectionManager
      .getConnections(peer.id)
      .find((c) => c.status === 'open' && c.direction === 'outbound' && isRelayed(c.remoteAddr));
    if (relayed !== undefined) void this.maybeUpgrade(peer.id, added, relayed);
  };

  constructor(components: WebRTCUpgraderComponents, init: WebRTCUpgraderInit) {
    this.components = components;
    this.log = components.logger.forComponent('trustix:webrtc-upgrader');
    this.dialTimeout = init.dialTimeout ?? DEFAULT_DIAL_TIMEOUT;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.components.events.addEventListener('peer:identify', this.onIdentify);
    this.components.events.addEventListener('peer:update', this.onPeerUpdate);
  }

  stop(): void {
    this.running = false;
    this.components.events.removeEventListener('peer:identify', this.onIdentify);
    this.components.events.removeEventListener('peer:update', this.onPeerUpdate);
  }

  private hasDirect(peerId: PeerId): boolean {
    return this.components.connectionManager
      .getConnections(peerId)
      .some((c) => c.status === 'open' && !isRelayed(c.remoteAddr));
  }

  private async maybeUpgrade(
    peerId: PeerId,
    listenAddrs: readonly Multiaddr[],
    connection: Connection,
  ): Promise<void> {
    if (!this.running || connection.direction !== 'outbound' || !isRelayed(connection.remoteAddr)) return;
    if (isWebRTCAddress(connection.remoteAddr)) return;
    const key = peerId.toString();
    const addrs = listenAddrs.filter(isWebRTCAddress);
    if (addrs.length === 0 || this.dialing.has(key) || this.hasDirect(peerId)) return;
    this.dialing.add(key);
    try {
      for (const addr of addrs) {
        const target = addr.getComponents().at(-1)?.name === 'p2p' ? addr : addr.encapsulate(`/p2p/${key}`);
        this.log('%p: dialling WebRTC %a (relayed: %a)', peerId, target, connection.remoteAddr);
        try {
          const direct = await this.components.connectionManager.openConnection(target, {
            signal: AbortSignal.timeout(this.dialTimeout),
          });
          this.upgraded++;
          this.log(
            '%p: direct WebRTC connection %a in place of %a',
            peerId,
            direct.remoteAddr,
            connection.remoteAddr,
          );
          return;
        } catch (err) {
          this.log('%p: WebRTC dial %a failed: %s', peerId, target, (err as Error).message);
        }
      }
      this.failed++;
    } finally {
      this.dialing.delete(key);
    }
  }
}

/** The libp2p service factory: `services: { webrtcUpgrader: webRTCUpgrader() }`. */
export function webRTCUpgrader(
  init: WebRTCUpgraderInit = {},
): (components: WebRTCUpgraderComponents) => WebRTCUpgrader {
  return (components) => new DefaultWebRTCUpgrader(components, init);
}
