/**
 * Peers banned for serving bad bytes (tiles or bundles that fail verification against a signed root):
 * left out as tile sources, disconnected, and refused as connections both ways until the ban ends.
 * A peer that lies about a log is not worth a gossip or DHT slot either, and an honest peer with a
 * damaged store comes back after the ban, once its operator had time to notice.
 *
 * The connection gater is handed to libp2p when the node is built; the hang-up is the caller's (it
 * holds the libp2p node), through `onBan`.
 */
import { type ConnectionGater, type PeerId, TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';

const log = logger('trustix:peer-bans');

export interface PeerBansInit {
  /** How long a ban lasts, in ms. Default 1 h. */
  readonly banMs?: number;
  /** Most bans held; the oldest is forgotten beyond. Default 10,000. */
  readonly maxBans?: number;
  /** The clock. Default Date.now. */
  readonly now?: () => number;
}

export interface PeerBansEvents {
  ban: CustomEvent<{ peer: string; reason: string }>;
}

export class PeerBans extends TypedEventEmitter<PeerBansEvents> {
  private readonly banMs: number;
  private readonly maxBans: number;
  private readonly now: () => number;
  /** PeerId string -> end of its ban (ms), in the order banned. */
  private readonly until = new Map<string, number>();

  constructor(init: PeerBansInit = {}) {
    super();
    this.banMs = init.banMs ?? 3600_000;
    this.maxBans = init.maxBans ?? 10_000;
    this.now = init.now ?? Date.now;
  }

  /** Bans `peer` (a PeerId string) for banMs from now; dispatches 'ban' with { peer, reason }. */
  ban(peer: string, reason: string): void {
    log('banning %s for %d s: %s', peer, this.banMs / 1000, reason);
    this.until.delete(peer);
    this.until.set(peer, this.now() + this.banMs);
    if (this.until.size > this.maxBans) this.until.delete(this.until.keys().next().value!);
    this.dispatchEvent(new CustomEvent('ban', { detail: { peer, reason } }));
  }

  isBanned(peer: string): boolean {
    const end = this.until.get(peer);
    if (end === undefined) return false;
    if (end > this.now()) return true;
    this.until.delete(peer);
    return false;
  }

  /** Refuses dials to and connections from banned peers. */
  gater(): Pick<ConnectionGater, 'denyDialPeer' | 'denyInboundEncryptedConnection'> {
    const denied = (peer: PeerId) => this.isBanned(peer.toString());
    return {
      denyDialPeer: async (peer) => denied(peer),
      denyInboundEncryptedConnection: async (peer) => denied(peer),
    };
  }
}
