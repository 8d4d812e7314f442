/**
 * The tile sources of followed logs: for each log, the peer that told us of a checkpoint (asked first)
 * and the log's DHT providers. One Libp2pTileSource per peer, shared by every log being synced, so a
 * peer's inbound stream cap is respected across logs. A source that served bad data is left out for a
 * while (the sync already dropped it); the peer keeps its connection, but gossip scoring and this
 * exclusion keep it from mattering.
 */
import type { PeerId } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { peerIdFromString } from '@libp2p/peer-id';
import { Libp2pTileSource, type Libp2pTileSourceComponents } from './libp2p-tile-source.ts';
import type { LogProviders } from './log-providers.ts';
import type { TileSource } from './tile-source.ts';

const log = logger('trustix:peer-sources');

export interface PeerSourcesInit {
  /** How long a source that served bad data is left out. Default 1 h. */
  readonly banMs?: number;
  /** Most sources handed to one sync. Default 8. */
  readonly maxSources?: number;
}

export interface PeerSourcesComponents extends Libp2pTileSourceComponents {
  readonly providers: LogProviders;
  readonly peerId: PeerId;
}

export class PeerSources {
  private readonly components: PeerSourcesComponents;
  private readonly banMs: number;
  private readonly maxSources: number;
  private readonly sources = new Map<string, Libp2pTileSource>();
  private readonly banned = new Map<string, number>();

  constructor(components: PeerSourcesComponents, init: PeerSourcesInit = {}) {
    this.components = components;
    this.banMs = init.banMs ?? 3600_000;
    this.maxSources = init.maxSources ?? 8;
  }

  /** Sources for `logId`: `hint` (a PeerId string) first, then the DHT providers; never ourselves. */
  async sourcesFor(logId: string, hint?: string): Promise<TileSource[]> {
    const peers: PeerId[] = [];
    if (hint !== undefined) {
      try {
        peers.push(peerIdFromString(hint));
      } catch {
        log('ignoring a hint that is not a PeerId: %s', hint);
      }
    }
    peers.push(...(await this.components.providers.findProviders(logId)));
    const out: TileSource[] = [];
    for (const peer of peers) {
      const id = peer.toString();
      if (peer.equals(this.components.peerId) || this.isBanned(id) || out.some((s) => s.id === id)) continue;
      out.push(this.sourceOf(peer));
      if (out.length >= this.maxSources) break;
    }
    return out;
  }

  /** Leaves a source out for `banMs` (it served bad bytes). */
  ban(id: string, reason: string): void {
    log('leaving out %s for %d s: %s', id, this.banMs / 1000, reason);
    this.banned.set(id, Date.now() + this.banMs);
    this.sources.delete(id);
  }

  private isBanned(id: string): boolean {
    const until = this.banned.get(id);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.banned.delete(id);
    return false;
  }

  private sourceOf(peer: PeerId): Libp2pTileSource {
    const id = peer.toString();
    let source = this.sources.get(id);
    if (source === undefined) {
      source = new Libp2pTileSource({ dialer: this.components.dialer }, { peer });
      this.sources.set(id, source);
    }
    return source;
  }
}
