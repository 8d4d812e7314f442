/**
 * The tile reads of a stored log (node/store/log-store.ts): its hash tiles and entry bundles as of its
 * checkpoint, the full ones a sync step staged beyond it, and hashes by id out of its tiles. The lowest
 * layer of LogStore (LogStore extends LogEntries, node/store/log-entries.ts, which extends this), so that
 * the store stays one class for its many readers while its tile reads, its entries and proofs, and its
 * opening and writes each have a module of their own.
 */
import { HASH_SIZE, TILE_WIDTH } from '../../protocol/constants.ts';
import { OutOfRangeError } from '../../protocol/errors.ts';
import type { Hash, HashId, HashReader } from '../../protocol/merkle.ts';
import type { HashTile, TileId } from '../../protocol/tile-path.ts';
import { hashFromTile, type TileData, tileForHash, tileInTree } from '../../protocol/tiles.ts';
import { StoreCorruptError } from '../errors.ts';
import type { Database } from './database.ts';
import { entryBundleKey, logPrefix, tileKey } from './layout.ts';
import { TileHashCache } from './tile-hash-cache.ts';

/** The hash tiles holding `ids`, each once. */
export function tilesHolding(ids: readonly HashId[]): { level: number; index: number }[] {
  const tiles = ids.map((id) => tileForHash(id).tile);
  return [...new Map(tiles.map((t) => [`${t.level}/${t.index}`, t])).values()];
}

export abstract class LogTiles implements HashReader {
  readonly logId: string;
  protected readonly db: Database;
  protected readonly prefix: Uint8Array;
  private readonly tileHashes = new TileHashCache();

  protected constructor(db: Database, logId: string) {
    this.db = db;
    this.logId = logId;
    this.prefix = logPrefix(logId);
  }

  /** Size of the tree at the latest checkpoint (0 without one): node/store/log-store.ts keeps it. */
  abstract get size(): number;

  /**
   * A full level-0 tile or entry bundle stored beyond the checkpoint by a sync step (node/sync/sync-stage.ts),
   * unclipped: the caller knows it is staged and verified. Undefined when absent.
   */
  async readStaged(tile: TileId): Promise<Uint8Array | undefined> {
    if (tile.width !== TILE_WIDTH || (tile.kind === 'hash' && tile.level !== 0)) return undefined;
    if (tile.kind === 'entries') return this.db.get(entryBundleKey(this.prefix, tile.index));
    const data = await this.db.get(tileKey(this.prefix, 0, tile.index));
    return data?.length === TILE_WIDTH * HASH_SIZE ? data : undefined;
  }

  async readTile(tile: TileId): Promise<Uint8Array | undefined> {
    if (tile.kind === 'hash') {
      const have = this.hashTileInTree(tile.level, tile.index);
      // A narrower width than stored is a prefix: served too (a client behind the latest checkpoint).
      if (have === undefined || tile.width > have.width) return undefined;
      const data = await this.db.get(tileKey(this.prefix, tile.level, tile.index));
      return data?.subarray(0, tile.width * HASH_SIZE);
    }
    const have = this.hashTileInTree(0, tile.index);
    if (have === undefined || tile.width > have.width) return undefined;
    const data = await this.db.get(entryBundleKey(this.prefix, tile.index));
    return data === undefined ? undefined : bundlePrefix(data, tile.width);
  }

  /** Stored hashes by id (trusted: our own storage, written with its checkpoint). */
  async readHashes(ids: readonly HashId[]): Promise<Hash[]> {
    const tiles = tilesHolding(ids);
    return this.hashesIn(
      ids,
      tiles,
      await this.db.getMany(tiles.map((t) => tileKey(this.prefix, t.level, t.index))),
    );
  }

  /** The hashes `ids` out of the bodies of `tiles` (tilesHolding(ids)), read in that order. */
  protected hashesIn(
    ids: readonly HashId[],
    tiles: readonly { level: number; index: number }[],
    bodies: readonly (Uint8Array | undefined)[],
  ): Hash[] {
    const byKey = new Map<string, TileData>();
    tiles.forEach((t, i) => {
      const data = bodies[i];
      if (data === undefined)
        throw new StoreCorruptError(`tile ${t.level}/${t.index} of ${this.logId} is missing`);
      const tile: HashTile = { kind: 'hash', level: t.level, index: t.index, width: data.length / HASH_SIZE };
      byKey.set(`${t.level}/${t.index}`, { tile, data });
    });
    return ids.map((id) => {
      const { tile: located, start, end } = tileForHash(id);
      const key = `${located.level}/${located.index}`;
      const { tile, data } = byKey.get(key)!;
      if (tile.width !== TILE_WIDTH) return hashFromTile(tile, data, id);
      return this.tileHashes.subtreeRoot(key, data, start, end - start);
    });
  }

  private hashTileInTree(level: number, index: number): HashTile | undefined {
    try {
      return tileInTree(level, index, this.size);
    } catch (err) {
      if (err instanceof OutOfRangeError) return undefined;
      throw err;
    }
  }
}

/** The first `count` entries of a stored bundle, as bundle bytes (a prefix: no copy). */
function bundlePrefix(bundle: Uint8Array, count: number): Uint8Array {
  let pos = 0;
  for (let i = 0; i < count; i++) {
    if (pos + 2 > bundle.length) throw new StoreCorruptError('stored entry bundle is truncated');
    pos += 2 + bundle[pos]! * 256 + bundle[pos + 1]!;
  }
  if (pos > bundle.length) throw new StoreCorruptError('stored entry bundle is truncated');
  return bundle.subarray(0, pos);
}
