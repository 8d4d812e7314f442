/**
 * A HashReader over untrusted tiles, checked against a trusted tree (size, root), after Go's
 * tlog.TileHashReader: each read fetches the partial tiles of the right edge (which together determine
 * the root) plus the full tiles holding the wanted hashes and their ancestors; the edge is checked against
 * the root, then every full tile against its hash in the (already checked) tile above. Only then is any
 * hash returned. So a verifier holding only tiles can check a checkpoint and build or check proofs.
 */
import { HASH_SIZE, TILE_HEIGHT, TILE_WIDTH } from './constants.ts';
import { MalformedError, OutOfRangeError, VerificationError } from './errors.ts';
import {
  assertHash,
  assertTreeSize,
  EMPTY_ROOT,
  type Hash,
  type HashId,
  type HashReader,
  hashesEqual,
  nodeHash,
  treeHashIds,
} from './merkle.ts';
import type { HashTile } from './tile-path.ts';
import { fullTileHash, hashFromTile, tileForHash, tileInTree } from './tiles.ts';

/** Where tiles come from (peers, HTTP, a cache). Untrusted: everything it returns is checked. */
export interface TileReader {
  /** Bodies of `tiles`, in order, each exactly width * 32 bytes (a wider copy may be cut down to size). */
  readTiles(tiles: readonly HashTile[]): Promise<Uint8Array[]> | Uint8Array[];
  /** Called with tiles once they are verified against the root, e.g. to cache or store them. */
  saveTiles?(tiles: readonly HashTile[], data: readonly Uint8Array[]): Promise<void> | void;
}

const key = (tile: HashTile): string => `${tile.level}/${tile.index}`;

/**
 * A HashReader for the tree of `size` leaves with root `root` (trusted, e.g. from a verified checkpoint)
 * whose hashes come from `tiles`. readHashes throws VerificationError when the tiles do not match the
 * root, MalformedError when a tile body has the wrong length, OutOfRangeError for a hash not in the tree.
 */
export function tileHashReader(size: number, root: Hash, tiles: TileReader): HashReader {
  assertTreeSize(size);
  assertHash(root, 'root hash');
  if (size === 0 && !hashesEqual(root, EMPTY_ROOT))
    throw new VerificationError('tree', 'a tree of size 0 must have the empty root');
  return { readHashes: (ids) => readVerifiedHashes(size, root, tiles, ids) };
}

async function readVerifiedHashes(
  size: number,
  root: Hash,
  reader: TileReader,
  ids: readonly HashId[],
): Promise<Hash[]> {
  if (ids.length === 0) return [];
  const tiles: HashTile[] = [];
  const order = new Map<string, number>();
  const add = (tile: HashTile): number => {
    order.set(key(tile), tiles.length);
    return tiles.push(tile) - 1;
  };
  const containing = (id: HashId): HashTile => {
    const { tile } = tileForHash(id);
    return tileInTree(tile.level, tile.index, size);
  };

  // First the tiles of the tree hash (the partial edge), which the root authenticates.
  const rootIds = treeHashIds(size);
  const rootTiles = rootIds.map((id) => {
    const tile = containing(id);
    return order.get(key(tile)) ?? add(tile);
  });
  const edgeCount = tiles.length;

  // Then, for each wanted hash, its tile and the full ancestors up to one already planned, parents first.
  const idTiles = ids.map((id) => {
    assertTreeSize(id.level, 'hash level');
    assertTreeSize(id.index, 'hash index');
    if (id.level > 63 || (id.index + 1) * 2 ** id.level > size)
      throw new OutOfRangeError(`hash ${id.level}/${id.index} is not in a tree of size ${size}`);
    const base = containing(id);
    const chain: HashTile[] = [];
    for (let tile = base; !order.has(key(tile)); ) {
      // A tile outside the planned set has a parent, so it is full: the edge tiles are all planned.
      if (tile.width !== TILE_WIDTH) throw new Error(`tile ${key(tile)} should be full (size ${size})`);
      chain.push(tile);
      tile = tileInTree(tile.level + 1, Math.floor(tile.index / TILE_WIDTH), size);
    }
    for (let i = chain.length - 1; i >= 0; i--) add(chain[i]!);
    return order.get(key(base))!;
  });

  const data = await reader.readTiles(tiles);
  if (!Array.isArray(data) || data.length !== tiles.length)
    throw new MalformedError('tiles', `asked for ${tiles.length} tiles, got ${data?.length}`);
  tiles.forEach((tile, i) => {
    if (!(data[i] instanceof Uint8Array) || data[i].length !== tile.width * HASH_SIZE)
      throw new MalformedError(
        'tile',
        `${data[i]?.length} bytes for tile ${key(tile)} of width ${tile.width}`,
      );
  });

  // The edge against the root.
  const last = rootIds.length - 1;
  let computed = hashFromTile(tiles[rootTiles[last]!]!, data[rootTiles[last]!]!, rootIds[last]!);
  for (let i = last - 1; i >= 0; i--)
    computed = nodeHash(hashFromTile(tiles[rootTiles[i]!]!, data[rootTiles[i]!]!, rootIds[i]!), computed);
  if (!hashesEqual(computed, root))
    throw new VerificationError('tiles', 'the edge tiles do not hash to the tree root');

  // Each full tile against its hash in the tile above, which comes earlier and is already checked.
  for (let i = edgeCount; i < tiles.length; i++) {
    const tile = tiles[i]!;
    const parent = tileInTree(tile.level + 1, Math.floor(tile.index / TILE_WIDTH), size);
    const j = order.get(key(parent))!;
    const want = hashFromTile(parent, data[j]!, { level: (tile.level + 1) * TILE_HEIGHT, index: tile.index });
    if (!hashesEqual(fullTileHash(data[i]!), want))
      throw new VerificationError('tiles', `tile ${key(tile)} does not match its hash in the tile above`);
  }

  await reader.saveTiles?.(tiles, data);
  return ids.map((id, i) => hashFromTile(tiles[idTiles[i]!]!, data[idTiles[i]!]!, id));
}
