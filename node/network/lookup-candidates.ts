/**
 * Whom a lookup asks: what the lookup client remembers of each log's peers (hinted, whose last answer
 * verified, that lately said they lack the log) and the candidates it makes of them, of the DHT providers
 * and of the connected peers. Apart from the exchange because it is the choice of peers alone
 * (docs/PROTOCOL.md, "Lookups"): what an answer teaches comes back through verified() and notHeld().
 */
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { shuffled } from '../sync/random-order.ts';
import type { LookupClientComponents, LookupClientInit } from './lookup-client-init.ts';

export class LookupCandidates {
  private readonly components: LookupClientComponents;
  private readonly init: Required<LookupClientInit>;
  private readonly hints = new Map<string, string[]>();
  /** Per log: peers whose last answer verified, asked first. */
  private readonly good = new Map<string, string[]>();
  /** Per log: peers that said they do not hold it, and until when they are passed over. */
  private readonly lacking = new Map<string, Map<string, number>>();

  constructor(components: LookupClientComponents, init: Required<LookupClientInit>) {
    this.components = components;
    this.init = init;
  }

  /** A peer that holds (or told us of) the log: asked early. */
  hint(logId: string, peer: string): void {
    this.remember(this.hints, logId, peer);
  }

  /** A peer whose answer verified: asked first. */
  verified(logId: string, peer: string): void {
    this.remember(this.good, logId, peer);
  }

  /** A peer that said it does not hold the log: passed over for `notHeldMs`. */
  notHeld(logId: string, peer: string): void {
    const lacking = this.lacking.get(logId) ?? new Map<string, number>();
    lacking.set(peer, Date.now() + this.init.notHeldMs);
    if (lacking.size > 4 * this.init.maxTried) lacking.delete(lacking.keys().next().value!);
    this.lacking.set(logId, lacking);
  }

  private remember(map: Map<string, string[]>, logId: string, peer: string): void {
    if (peer === this.components.peerId.toString()) return;
    const list = (map.get(logId) ?? []).filter((p) => p !== peer);
    list.unshift(peer);
    map.set(logId, list.slice(0, this.init.maxHints));
  }

  /** Forgets what is known of a log (unfollowed). */
  forget(logId: string): void {
    this.hints.delete(logId);
    this.good.delete(logId);
    this.lacking.delete(logId);
  }

  /**
   * Peers whose last answer verified, hinted peers, DHT providers in random order, then connected peers
   * that speak the protocol; never banned ones, ones that lately said they lack the log, nor ourselves;
   * at most maxTried.
   */
  async select(logId: string): Promise<PeerId[]> {
    const { peerId: self, bans } = this.components;
    const out: PeerId[] = [];
    const seen = new Set<string>([self.toString()]);
    const lacking = this.lacking.get(logId);
    const now = Date.now();
    const add = (peer: PeerId) => {
      const id = peer.toString();
      if (seen.has(id) || bans.isBanned(id, logId) || out.length >= this.init.maxTried) return;
      seen.add(id);
      const until = lacking?.get(id);
      if (until !== undefined && until > now) return;
      out.push(peer);
    };
    const byId = (ids: readonly string[]) => {
      for (const id of ids) {
        try {
          add(peerIdFromString(id));
        } catch {
          // not a PeerId: ignored
        }
      }
    };
    byId(this.good.get(logId) ?? []);
    byId(this.hints.get(logId) ?? []);
    for (const peer of shuffled(await this.components.providers.findProviders(logId))) add(peer);
    for (const peer of this.components.connectedPeers?.() ?? []) add(peer);
    return out;
  }
}
