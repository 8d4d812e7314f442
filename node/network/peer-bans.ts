/**
 * Peers banned for serving bad bytes (tiles or bundles that fail verification against a signed root).
 *
 * A ban is first for one (peer, log): the peer is left out as a source of that log only. Bad bytes for
 * one log do not prove a peer dishonest: when the log's builder forks, honest peers holding the other
 * branch serve tiles that fail against our checkpoint, and banning them whole would cut us off from
 * them for every log. A peer banned for `maxLogBans` logs at once is banned as a whole: left out as a
 * source of every log, disconnected, and refused as a connection both ways until the ban ends. An
 * honest peer with a damaged store comes back after the ban, once its operator had time to notice.
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
  /** Most bans held (whole peers, and peers with per-log bans); the oldest is forgotten beyond. Default 10,000. */
  readonly maxBans?: number;
  /** Logs a peer may be banned for at once before it is banned as a whole. Default 3. */
  readonly maxLogBans?: number;
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
  private readonly maxLogBans: number;
  /** PeerId string -> end of its ban (ms), in the order banned. */
  private readonly until = new Map<string, number>();
  /** PeerId string -> log ID -> end of its ban for that log (ms); peers in the order first banned. */
  private readonly logUntil = new Map<string, Map<string, number>>();

  constructor(init: PeerBansInit = {}) {
    super();
    this.banMs = init.banMs ?? 3600_000;
    this.maxBans = init.maxBans ?? 10_000;
    this.maxLogBans = init.maxLogBans ?? 3;
    this.now = init.now ?? Date.now;
  }

  /**
   * Bans `peer` (a PeerId string) as a source of `logId` for banMs from now; once it is banned for
   * maxLogBans logs at once, bans it as a whole (ban).
   */
  banForLog(peer: string, logId: string, reason: string): void {
    log('banning %s as a source of %s for %d s: %s', peer, logId, this.banMs / 1000, reason);
    let logs = this.logUntil.get(peer);
    if (logs === undefined) {
      logs = new Map();
      this.logUntil.set(peer, logs);
      if (this.logUntil.size > this.maxBans) this.logUntil.delete(this.logUntil.keys().next().value!);
    }
    const now = this.now();
    for (const [id, end] of logs) if (end <= now) logs.delete(id);
    logs.set(logId, now + this.banMs);
    if (logs.size >= this.maxLogBans) this.ban(peer, `${reason} (bad data for ${logs.size} logs)`);
  }

  /** Bans `peer` (a PeerId string) as a whole for banMs from now; dispatches 'ban' with { peer, reason }. */
  ban(peer: string, reason: string): void {
    log('banning %s for %d s: %s', peer, this.banMs / 1000, reason);
    this.until.delete(peer);
    this.until.set(peer, this.now() + this.banMs);
    if (this.until.size > this.maxBans) this.until.delete(this.until.keys().next().value!);
    this.dispatchEvent(new CustomEvent('ban', { detail: { peer, reason } }));
  }

  /** Whether `peer` is banned as a whole, or (given `logId`) as a source of that log. */
  isBanned(peer: string, logId?: string): boolean {
    const end = this.until.get(peer);
    if (end !== undefined) {
      if (end > this.now()) return true;
      this.until.delete(peer);
    }
    if (logId === undefined) return false;
    const logEnd = this.logUntil.get(peer)?.get(logId);
    return logEnd !== undefined && logEnd > this.now();
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
