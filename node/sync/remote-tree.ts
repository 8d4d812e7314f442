/**
 * The tree of a signed checkpoint (size, root) whose hash tiles come from untrusted sources, verified as
 * they arrive, one tile at a time so that a bad tile is blamed on the source that sent it:
 *
 * - the right edge (the partial tiles, edgeTiles(size)) is fetched from one source and must hash to the
 *   signed root;
 * - every full tile must hash to its entry in the tile above it, which is verified first (parents before
 *   children, level by level from the top).
 *
 * This is protocol/tile-hash-reader.ts's check, reorganised for many sources. Verified tiles are kept in
 * memory at their width in this tree; a sync asks only for the upper levels and a few level-0 tiles here
 * (about size / 8 bytes for a tree of `size` new leaves), and streams the level-0 tiles past it.
 */
import { HASH_SIZE, TILE_HEIGHT, TILE_WIDTH } from '../../protocol/constants.ts';
import { OutOfRangeError, VerificationError } from '../../protocol/errors.ts';
import {
  EMPTY_ROOT,
  type Hash,
  type HashId,
  type HashReader,
  hashesEqual,
  nodeHash,
  treeHashIds,
} from '../../protocol/merkle.ts';
import type { HashTile } from '../../protocol/tile-path.ts';
import {
  assertTileData,
  edgeTiles,
  fullTileHash,
  hashFromTile,
  type TileData,
  tileForHash,
  tileInTree,
} from '../../protocol/tiles.ts';
import { InternalError } from '../errors.ts';
import type { SourcePool } from './source-pool.ts';

const keyOf = (level: number, index: number): string => `${level}/${index}`;

export class RemoteTree implements HashReader {
  readonly size: number;
  readonly root: Hash;
  private readonly pool: SourcePool;
  private readonly verified = new Map<string, TileData>();
  private edge: Promise<void> | undefined;

  constructor(size: number, root: Hash, pool: SourcePool) {
    if (size === 0 && !hashesEqual(root, EMPTY_ROOT))
      throw new VerificationError('checkpoint', 'a tree of size 0 must have the empty root');
    this.size = size;
    this.root = root;
    this.pool = pool;
  }

  /** Tile (level, index) at its width in this tree (OutOfRangeError when the tree has none). */
  tileAt(level: number, index: number): HashTile {
    return tileInTree(level, index, this.size);
  }

  /** The verified body of `tile` (at this tree's width), or undefined when not fetched yet. */
  get(tile: HashTile): Uint8Array | undefined {
    return this.verified.get(keyOf(tile.level, tile.index))?.data;
  }

  /** Bytes of the verified tiles' bodies (and of what their views keep alive). */
  bytes(): number {
    const buffers = new Set<ArrayBufferLike>();
    for (const t of this.verified.values()) buffers.add(t.data.buffer);
    let total = 0;
    for (const b of buffers) total += b.byteLength;
    return total;
  }

  /** Every verified tile. */
  tiles(): TileData[] {
    return [...this.verified.values()];
  }

  /**
   * Checks a full tile's body against its hash in the verified tile above (which must be held: true for
   * any tile once its parent was ensured). Throws MalformedError / VerificationError.
   */
  verifyFull(tile: HashTile, data: Uint8Array): void {
    assertTileData(tile, data);
    if (tile.width !== TILE_WIDTH) throw new InternalError(`tile ${tile.level}/${tile.index} is partial`);
    const parent = this.tileAt(tile.level + 1, Math.floor(tile.index / TILE_WIDTH));
    const above = this.get(parent);
    if (above === undefined)
      throw new InternalError(`tile ${tile.level}/${tile.index}: parent not verified yet`);
    const want = hashFromTile(parent, above, { level: (tile.level + 1) * TILE_HEIGHT, index: tile.index });
    if (!hashesEqual(fullTileHash(data), want))
      throw new VerificationError(
        'tile',
        `${tile.level}/${tile.index} does not match its hash in the tile above`,
      );
  }

  /** Fetches and verifies `tiles` (at this tree's widths) and the full tiles above them that are missing. */
  async ensure(tiles: readonly { level: number; index: number }[]): Promise<void> {
    this.edge ??= this.fetchEdge();
    await this.edge;
    const missing = new Map<string, HashTile>();
    for (const t of tiles) {
      for (let tile = this.tileAt(t.level, t.index); ; ) {
        const key = keyOf(tile.level, tile.index);
        if (this.verified.has(key) || missing.has(key)) break;
        // Every partial tile is on the edge, which is verified: so this one is full and has a parent.
        missing.set(key, tile);
        tile = this.tileAt(tile.level + 1, Math.floor(tile.index / TILE_WIDTH));
      }
    }
    const byLevel = [...missing.values()].sort((a, b) => b.level - a.level);
    for (let i = 0; i < byLevel.length; ) {
      const level = byLevel[i]!.level;
      const batch: HashTile[] = [];
      while (i < byLevel.length && byLevel[i]!.level === level) batch.push(byLevel[i++]!);
      await Promise.all(
        batch.map(async (tile) => {
          const data = await this.pool.fetch([tile], ([body]) => {
            this.verifyFull(tile, body!);
            return body!;
          });
          this.verified.set(keyOf(tile.level, tile.index), { tile, data });
        }),
      );
    }
  }

  async readHashes(ids: readonly HashId[]): Promise<Hash[]> {
    for (const id of ids)
      if (id.level > 63 || (id.index + 1) * 2 ** id.level > this.size)
        throw new OutOfRangeError(`hash ${id.level}/${id.index} is not in a tree of size ${this.size}`);
    const located = ids.map((id) => tileForHash(id).tile);
    await this.ensure(located);
    return ids.map((id, i) => {
      const t = located[i]!;
      return hashFromTile(this.tileAt(t.level, t.index), this.get(t)!, id);
    });
  }

  /** The edge from one source, checked against the root (all its tiles together determine it). */
  private async fetchEdge(): Promise<void> {
    const edge = edgeTiles(this.size);
    if (edge.length === 0) return;
    const rootIds = treeHashIds(this.size);
    const bodies = await this.pool.fetch(edge, (bodies) => {
      edge.forEach((tile, i) => {
        assertTileData(tile, bodies[i]!);
      });
      const byLevel = new Map(edge.map((tile, i) => [tile.level, { tile, data: bodies[i]! }]));
      const hashes = rootIds.map((id) => {
        const { tile, data } = byLevel.get(tileForHash(id).tile.level)!;
        return hashFromTile(tile, data, id);
      });
      let root = hashes[hashes.length - 1]!;
      for (let i = hashes.length - 2; i >= 0; i--) root = nodeHash(hashes[i]!, root);
      if (!hashesEqual(root, this.root))
        throw new VerificationError('tiles', 'the edge tiles do not hash to the signed root');
      return bodies;
    });
    edge.forEach((tile, i) => {
      this.verified.set(keyOf(tile.level, tile.index), {
        tile,
        data: bodies[i]!.subarray(0, tile.width * HASH_SIZE),
      });
    });
  }
}
