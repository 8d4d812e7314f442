/**
 * The tile sources of followed logs: for each log, the peer that told us of a checkpoint (asked first),
 * the peers that served its last successful sync (half the places at most, so that each sync also meets
 * providers it did not use last time: otherwise the last sync's sources, often the builder, would be
 * every sync's), the log's DHT providers in random order (so sybils that
 * answer first do not fill every slot: a DHT eclipse, docs/SECURITY.md), and the log's static HTTP
 * mirrors named in the config, always, as a fallback no DHT can hide. One Libp2pTileSource per peer,
 * shared by every log being synced, so a peer's inbound stream cap is respected across logs. A source
 * that served bad data is banned as a source of that log (node/network/peer-bans.ts): left out here for it
 * until the ban ends; a peer banned for several logs is banned whole, and cut off by the node.
 */
import type { PeerId } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { peerIdFromString } from '@libp2p/peer-id';
import { shuffled } from '../sync/random-order.ts';
import { HttpTileSource, type TileSource } from '../sync/tile-source.ts';
import { Libp2pTileSource, type Libp2pTileSourceComponents } from './libp2p-tile-source.ts';
import type { PeerBans } from './peer-bans.ts';

const log = logger('trustix:peer-sources');

export interface PeerSourcesInit {
  /** Most peers handed to one sync (mirrors come on top). Default 8. */
  readonly maxSources?: number;
  /** Static HTTP mirrors of logs (base URLs serving `logs/<log ID>/...`), by log ID. Default none. */
  readonly mirrors?: Readonly<Record<string, readonly string[]>>;
}

export interface PeerSourcesComponents extends Libp2pTileSourceComponents {
  /** The log's DHT providers, kept and refreshed (node/network/provider-list.ts). */
  readonly providers: { findProviders(logId: string): Promise<PeerId[]> };
  readonly peerId: PeerId;
  readonly bans: PeerBans;
}

export class PeerSources {
  private readonly components: PeerSourcesComponents;
  private readonly maxSources: number;
  private readonly sources = new Map<string, Libp2pTileSource>();
  private readonly mirrors: ReadonlyMap<string, readonly HttpTileSource[]>;
  /** Per log, the peers of its last successful sync (at most maxSources). */
  private readonly served = new Map<string, readonly string[]>();

  constructor(components: PeerSourcesComponents, init: PeerSourcesInit = {}) {
    this.components = components;
    this.maxSources = init.maxSources ?? 8;
    this.mirrors = new Map(
      Object.entries(init.mirrors ?? {}).map(([logId, urls]) => [
        logId,
        urls.map((url) => new HttpTileSource({ url })),
      ]),
    );
  }

  /**
   * Sources for `logId`: `hint` (a PeerId string) first, then up to half of maxSources of the peers that
   * served it last, then the DHT providers in random order, then the rest of those that served; at most
   * maxSources peers, never ourselves; then the log's mirrors.
   */
  async sourcesFor(logId: string, hint?: string): Promise<TileSource[]> {
    const served = this.served.get(logId) ?? [];
    const half = Math.ceil(this.maxSources / 2);
    const peers = [
      ...peerIds([...(hint === undefined ? [] : [hint]), ...served.slice(0, half)]),
      ...shuffled(await this.components.providers.findProviders(logId)),
      ...peerIds(served.slice(half)),
    ];
    const out: TileSource[] = [];
    for (const peer of peers) {
      if (!this.usable(peer, logId) || out.some((s) => s.id === peer.toString())) continue;
      out.push(this.sourceOf(peer));
      if (out.length >= this.maxSources) break;
    }
    return [...out, ...(this.mirrors.get(logId) ?? [])];
  }

  /**
   * The sources of `peers` for `logId` (PeerId strings another peer named as the log's holders,
   * protocol/log-holders.ts): not ourselves, no peer banned for the log, nothing that is no PeerId.
   */
  sourcesOf(logId: string, peers: readonly string[]): TileSource[] {
    return peerIds(peers)
      .filter((peer) => this.usable(peer, logId))
      .map((peer) => this.sourceOf(peer));
  }

  /** Whether `peer` may be a source of `logId`: not ourselves, not banned for the log. */
  private usable(peer: PeerId, logId: string): boolean {
    return !peer.equals(this.components.peerId) && !this.components.bans.isBanned(peer.toString(), logId);
  }

  /** Remembers the peers (of `ids`: sources still in use at the end) that served a sync of `logId`. */
  servedBy(logId: string, ids: readonly string[]): void {
    const peers = ids.filter((id) => this.sources.has(id)).slice(0, this.maxSources);
    if (peers.length > 0) this.served.set(logId, peers);
  }

  /** The tile source of the peer `id` (a PeerId string), e.g. to ask it for its checkpoint; undefined if none. */
  source(id: string): TileSource | undefined {
    const known = this.sources.get(id);
    if (known !== undefined) return known;
    try {
      return this.sourceOf(peerIdFromString(id));
    } catch {
      return undefined; // a mirror's URL, not a peer
    }
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

/**
 * The PeerIds among `ids` (strings from a gossip sender, the log's last sync or a holders list); what is
 * no PeerId is left out.
 */
function peerIds(ids: readonly string[]): PeerId[] {
  const out: PeerId[] = [];
  for (const id of ids)
    try {
      out.push(peerIdFromString(id));
    } catch {
      log('ignoring a source that is not a PeerId: %s', id);
    }
  return out;
}
