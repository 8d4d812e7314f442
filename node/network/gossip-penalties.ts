/**
 * Gossipsub's application-specific score for Trustix (docs/SECURITY.md, "Keyless peers"): a peer that
 * overspends its budget of gossip about logs nobody here follows (node/monitor/gossip-budget.ts) gets
 * one penalty point per message over, decaying with a half-life. Gossipsub weighs the score
 * (`appSpecificWeight` 1 in gossipScoreParams), so about 10 points stop gossip with the peer and 80
 * graylist it (gossipsub's default thresholds -10 and -80), while an honest relay that once forwarded a
 * little too much recovers within minutes.
 */

export interface GossipPenaltiesInit {
  /** Half-life of a penalty. Default 5 minutes. */
  readonly halfLifeMs?: number;
  /** Peers remembered; beyond, the smallest penalties are forgotten first. Default 4096. */
  readonly maxPeers?: number;
}

interface Penalty {
  points: number;
  at: number;
}

export class GossipPenalties {
  private readonly halfLifeMs: number;
  private readonly maxPeers: number;
  private readonly now: () => number;
  private readonly peers = new Map<string, Penalty>();

  constructor(init: GossipPenaltiesInit = {}, now = Date.now) {
    this.halfLifeMs = init.halfLifeMs ?? 5 * 60_000;
    this.maxPeers = init.maxPeers ?? 4096;
    this.now = now;
  }

  /** `points` more penalty points for `peer` (default one; a hostile catch-up answer costs more). */
  penalise(peer: string, points = 1): void {
    const at = this.now();
    const p = this.peers.get(peer);
    if (p !== undefined) {
      p.points = this.decayed(p, at) + points;
      p.at = at;
      return;
    }
    if (this.peers.size >= this.maxPeers) this.forgetSmallest(at);
    this.peers.set(peer, { points, at });
  }

  /** The application-specific score of `peer`: minus its decayed penalty points. */
  score(peer: string): number {
    const p = this.peers.get(peer);
    return p === undefined ? 0 : -this.decayed(p, this.now());
  }

  private decayed(p: Penalty, at: number): number {
    return p.points * 0.5 ** ((at - p.at) / this.halfLifeMs);
  }

  private forgetSmallest(at: number): void {
    let smallest: string | undefined;
    let min = Number.POSITIVE_INFINITY;
    for (const [peer, p] of this.peers) {
      const points = this.decayed(p, at);
      if (points < min) [smallest, min] = [peer, points];
    }
    if (smallest !== undefined) this.peers.delete(smallest);
  }
}
