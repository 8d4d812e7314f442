/**
 * The tile sources of followed logs: for each log, the peer that told us of a checkpoint (asked first)
 * and the log's DHT providers. One Libp2pTileSource per peer, shared by every log being synced, so a
 * peer's inbound stream cap is respected across logs. A source that served bad data is banned as a
 * source of that log (node/network/peer-bans.ts): left out here for it until the ban ends; a peer banned
 * for several logs is banned whole, and cut off by the node.
 */
import type { PeerId } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { peerIdFromString } from '@libp2p/peer-id';
import type { TileSource } from '../sync/tile-source.ts';
import { Libp2pTileSource, type Libp2pTileSourceComponents } from './libp2p-tile-source.ts';
import type { LogProviders } from './log-providers.ts';
import type { PeerBans } from './peer-bans.ts';

const log = logger('trustix:peer-sources');

export interface PeerSourcesInit {
  /** Most sources handed to one sync. Default 8. */
  readonly maxSources?: number;
}

export interface PeerSourcesComponents extends Libp2pTileSourceComponents {
  readonly providers: LogProviders;
  readonly peerId: PeerId;
  readonly bans: PeerBans;
}

export class PeerSources {
  private readonly components: PeerSourcesComponents;
  private readonly maxSources: number;
  private readonly sources = new Map<string, Libp2pTileSource>();

  constructor(components: PeerSourcesComponents, init: PeerSourcesInit = {}) {
    this.components = components;
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
      if (
        peer.equals(this.components.peerId) ||
        this.components.bans.isBanned(id, logId) ||
        out.some((s) => s.id === id)
      )
        continue;
      out.push(this.sourceOf(peer));
      if (out.length >= this.maxSources) break;
    }
    return out;
  }

  /** Bans a source that served bad bytes for `logId` (the sync already dropped it) as a source of that log. */
  ban(id: string, logId: string, reason: string): void {
    this.components.bans.banForLog(id, logId, reason);
    if (this.components.bans.isBanned(id)) this.sources.delete(id);
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
