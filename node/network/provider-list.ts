/**
 * The DHT providers of each log, as the sync and the lookups ask for them (docs/ARCHITECTURE.md, "Data
 * flow of the network", Discovery): one DHT walk per log at a time, its result kept for `ttlMs` (5
 * minutes). Once older, the old list still serves while a walk refreshes it in the background, so only a
 * log's first request waits for the DHT.
 *
 * Why: every sync and every `discover` of a sync under way asks for the log's sources. Walking the DHT
 * each time cost a swarm of 25 nodes most of its CPU (kad-dht's GET_PROVIDERS handling, its peer-store
 * reads, the walks' aborted requests), while a provider record lives 48 hours and a list minutes old
 * still names the peers that hold the log.
 */
import type { PeerId } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { LRUCache } from 'lru-cache';

const log = logger('trustix:provider-list');

export interface ProviderListInit {
  /**
   * Age after which a log's list is walked again (in the background), in ms. Default 300,000: a walk is
   * ~15 GET_PROVIDERS requests, each answered with a peer-store read per provider; at 60 s the refreshes
   * of 20 followers of 5 logs were still half of a 25-node swarm's traffic. New providers are found in the
   * meantime as gossip senders and as the peers that served the last sync.
   */
  readonly ttlMs?: number;
  /**
   * Age after which an empty list (no provider found, or the walk failed) is walked again, in ms, the
   * caller waiting for it; younger, it is the answer (at most one walk per log this often). Default 5,000.
   */
  readonly emptyTtlMs?: number;
  /** Logs whose lists are kept, least recently asked dropped first. Default 4,096. */
  readonly maxLogs?: number;
}

export interface ProviderListComponents {
  /** The DHT walk (node/network/log-providers.ts): bounded in time and results, never ourselves. */
  readonly providers: { findProviders(logId: string): Promise<PeerId[]> };
}

interface Found {
  readonly at: number;
  readonly peers: readonly PeerId[];
  /** The next request waits for a fresh walk (renew). */
  readonly renew?: boolean;
}

export class ProviderList {
  private readonly components: ProviderListComponents;
  private readonly init: Required<ProviderListInit>;
  private readonly lists: LRUCache<string, Found>;
  /** Walks under way, by log. */
  private readonly walking = new Map<string, Promise<Found>>();
  /** DHT walks started, for tests and benchmarks. */
  walks = 0;

  constructor(components: ProviderListComponents, init: ProviderListInit = {}) {
    this.components = components;
    this.init = { ttlMs: 300_000, emptyTtlMs: 5_000, maxLogs: 4_096, ...init };
    this.lists = new LRUCache({ max: this.init.maxLogs });
  }

  /**
   * The providers of `logId` (a copy: the caller may reorder it). A list with providers is returned at
   * once, and walked again in the background once older than `ttlMs`. With none kept, or an empty list
   * older than `emptyTtlMs`, the caller waits for a walk: a sync given no provider has only the gossip
   * sender, which may not hold the log yet (at N = 50 most followers' first syncs failed so).
   */
  async findProviders(logId: string): Promise<PeerId[]> {
    const kept = this.lists.get(logId);
    const age = kept === undefined ? Number.POSITIVE_INFINITY : Date.now() - kept.at;
    if (kept === undefined || kept.renew === true || (kept.peers.length === 0 && age > this.init.emptyTtlMs))
      return [...(await this.walk(logId)).peers];
    if (age > this.init.ttlMs) void this.walk(logId);
    return [...kept.peers];
  }

  /** Drops what is kept of `logId` (e.g. it was unfollowed). A walk under way still stores its result. */
  forget(logId: string): void {
    this.lists.delete(logId);
  }

  /**
   * Has the next request for `logId` wait for a fresh walk (after a failed sync: its providers may be
   * known at stale addresses). A walk that finds nobody keeps the providers known, walked again after
   * `emptyTtlMs`: dropping them had left a follower with no source at all while the DHT answered nothing.
   */
  renew(logId: string): void {
    const kept = this.lists.get(logId);
    if (kept !== undefined) this.lists.set(logId, { ...kept, renew: true });
  }

  private walk(logId: string): Promise<Found> {
    let walking = this.walking.get(logId);
    if (walking === undefined) {
      this.walks++;
      walking = this.components.providers
        .findProviders(logId)
        .catch((err: unknown) => {
          log('finding the providers of %s failed: %s', logId, err);
          return [] as PeerId[];
        })
        .then((peers) => {
          const kept = this.lists.get(logId);
          // A walk that found nobody (cut short on a loaded node, say) does not erase a list that named
          // providers: their records live 48 h. That list keeps its age, so the next request walks again
          // (a renewed one, after emptyTtlMs).
          if (peers.length === 0 && kept !== undefined && kept.peers.length > 0) {
            if (kept.renew !== true) return kept;
            const again = { at: Date.now() - this.init.ttlMs + this.init.emptyTtlMs, peers: kept.peers };
            this.lists.set(logId, again);
            return again;
          }
          const found = { at: Date.now(), peers };
          this.lists.set(logId, found);
          return found;
        })
        .finally(() => this.walking.delete(logId));
      this.walking.set(logId, walking);
    }
    return walking;
  }
}
