/**
 * Growing a tiled tree for the sequencer: from the right edge (the partial tile of each level, see
 * edgeTiles) and a batch of leaf hashes, the tiles that change and the new root. Full tiles of the past
 * are never read: a level-L tile that fills up contributes its hash to level L+1, and the tree hash of
 * any size depends on the partial tiles only. Work is O(batch + log n).
 */
import { HASH_SIZE, TILE_WIDTH } from './constants.ts';
import { MalformedError } from './errors.ts';
import { assertHash, assertTreeSize, EMPTY_ROOT, type Hash, nodeHash, treeHashIds } from './merkle.ts';
import {
  edgeTiles,
  fullTileHash,
  hashFromTile,
  type TileData,
  tileForHash,
  tileInTree,
  tileLevelCount,
} from './tiles.ts';

/** The outcome of appendLeaves: the new size and root, and every tile written, lowest level first. */
export interface AppendResult {
  readonly size: number;
  readonly root: Hash;
  /** New and grown tiles; full ones are final, partial ones replace the previous partial tile. */
  readonly tiles: TileData[];
}

/**
 * Appends `leafHashes` to the tree of `size` leaves whose partial tiles are `edge` (exactly
 * edgeTiles(size), with their bodies, in any order). Level-0 tiles in the result map one to one to the
 * entry bundles to write. Throws MalformedError when `edge` does not match `size`.
 */
export function appendLeaves(
  size: number,
  edge: readonly TileData[],
  leafHashes: readonly Hash[],
): AppendResult {
  assertTreeSize(size);
  const newSize = size + leafHashes.length;
  assertTreeSize(newSize, 'new tree size');
  for (const h of leafHashes) assertHash(h, 'leaf hash');

  // The edge by level, checked against what a tree of this size has.
  const current = new Map<number, Uint8Array>();
  const wanted = edgeTiles(size);
  if (edge.length !== wanted.length)
    throw new MalformedError('tile edge', `${edge.length} tiles for size ${size}, expected ${wanted.length}`);
  for (const want of wanted) {
    const got = edge.find((t) => t.tile.level === want.level);
    if (got === undefined || got.tile.index !== want.index || got.tile.width !== want.width)
      throw new MalformedError('tile edge', `level ${want.level} must be tile ${want.index}.p/${want.width}`);
    if (got.data.length !== want.width * HASH_SIZE)
      throw new MalformedError('tile edge', `level ${want.level} tile body is ${got.data.length} bytes`);
    current.set(want.level, got.data);
  }

  const written: TileData[] = [];
  let incoming: readonly Hash[] = leafHashes; // hashes appended to the current level
  for (let level = 0; incoming.length > 0; level++) {
    const count = tileLevelCount(level, size);
    let index = Math.floor(count / TILE_WIDTH);
    let width = count % TILE_WIDTH;
    let prefix = width > 0 ? current.get(level)! : new Uint8Array(0);
    const completed: Hash[] = [];
    for (let pos = 0; pos < incoming.length; ) {
      const take = Math.min(TILE_WIDTH - width, incoming.length - pos);
      const data = new Uint8Array((width + take) * HASH_SIZE);
      data.set(prefix.subarray(0, width * HASH_SIZE));
      for (let i = 0; i < take; i++) data.set(incoming[pos + i]!, (width + i) * HASH_SIZE);
      const tile = { kind: 'hash' as const, level, index, width: width + take };
      written.push({ tile, data });
      if (tile.width === TILE_WIDTH) {
        completed.push(fullTileHash(data));
        current.delete(level);
      } else current.set(level, data);
      pos += take;
      index++;
      width = 0;
      prefix = new Uint8Array(0);
    }
    incoming = completed;
  }

  return { size: newSize, root: edgeRoot(newSize, current), tiles: written };
}

/** Tree hash from the partial tiles of the edge, by level. */
function edgeRoot(size: number, edge: ReadonlyMap<number, Uint8Array>): Hash {
  const ids = treeHashIds(size);
  if (ids.length === 0) return EMPTY_ROOT;
  const hashes = ids.map((id) => {
    const { tile } = tileForHash(id);
    const data = edge.get(tile.level);
    if (data === undefined) throw new Error(`no edge tile at level ${tile.level} for size ${size}`);
    return hashFromTile(tileInTree(tile.level, tile.index, size), data, id);
  });
  let root = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) root = nodeHash(hashes[i]!, root);
  return root;
}

/**
 * The right edge of the tree after appendLeaves: the partial tile of each level, taken from the
 * tiles just written where they changed and from the old edge elsewhere. Returns edgeTiles(size) with
 * their bodies; throws MalformedError when the inputs do not describe that tree.
 */
export function edgeAfter(edge: readonly TileData[], written: readonly TileData[], size: number): TileData[] {
  const byLevel = new Map(edge.map((t) => [t.tile.level, t]));
  for (const t of written) byLevel.set(t.tile.level, t);
  return edgeTiles(size).map((want) => {
    const t = byLevel.get(want.level);
    if (t === undefined || t.tile.index !== want.index || t.data.length !== want.width * HASH_SIZE)
      throw new MalformedError(
        'tile edge',
        `no tile ${want.level}/${want.index}.p/${want.width} for size ${size}`,
      );
    return { tile: want, data: t.data };
  });
}
