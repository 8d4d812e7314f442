/**
 * Tile math for C2SP tlog-tiles (height 8), after golang.org/x/mod/sumdb/tlog but with C2SP addressing:
 * hash tile (L, N) holds the stored hashes (level 8L, index N * 256 + i) for i < width, so a tile is the
 * bottom row of a complete subtree of height 8, and the hashes of levels 8L+1..8L+7 are recomputed from it.
 *
 * Tile body: the `width` hashes concatenated, 32 bytes each, nothing else.
 * In a tree of n leaves, level L has floor(n / 256^L) hashes: full tiles, then one partial tile of width
 * floor(n / 256^L) mod 256 when that is not 0. Full tiles never change; entry bundles share N and W with
 * the level-0 tiles.
 */
import { HASH_SIZE, TILE_HEIGHT, TILE_WIDTH } from './constants.ts';
import { MalformedError, OutOfRangeError } from './errors.ts';
import { assertTreeSize, type Hash, type HashId, nodeHash } from './merkle.ts';
import type { HashTile } from './tile-path.ts';

/** A hash tile and its body (width * 32 bytes). */
export interface TileData {
  readonly tile: HashTile;
  readonly data: Uint8Array;
}

/** Number of stored hashes at tree level 8 * tileLevel in a tree of `size` leaves. */
export function tileLevelCount(tileLevel: number, size: number): number {
  return Math.floor(size / 2 ** (TILE_HEIGHT * tileLevel));
}

/**
 * Tile (level, index) as it stands in a tree of `size` leaves: full, or partial with its width clipped
 * to the tree. Throws OutOfRangeError when the tree has no hash in that tile.
 */
export function tileInTree(level: number, index: number, size: number): HashTile {
  const width = Math.min(TILE_WIDTH, tileLevelCount(level, size) - index * TILE_WIDTH);
  if (width <= 0) throw new OutOfRangeError(`tile ${level}/${index} is empty in a tree of size ${size}`);
  return { kind: 'hash', level, index, width };
}

/**
 * Where stored hash `id` lives: the tile at level floor(id.level / 8) whose hashes [start, end) form
 * the subtree `id` (end - start = 2^(id.level mod 8)). `tile` has the least width that contains it.
 */
export function tileForHash(id: HashId): { tile: HashTile; start: number; end: number } {
  assertTreeSize(id.level, 'hash level');
  assertTreeSize(id.index, 'hash index');
  const level = Math.floor(id.level / TILE_HEIGHT);
  const span = 2 ** (id.level - level * TILE_HEIGHT);
  const first = id.index * span; // index among the tile level's hashes
  if (!Number.isSafeInteger(first)) throw new OutOfRangeError(`hash ${id.level}/${id.index} is beyond 2^53`);
  const index = Math.floor(first / TILE_WIDTH);
  const start = first - index * TILE_WIDTH;
  return { tile: { kind: 'hash', level, index, width: start + span }, start, end: start + span };
}

/** Throws MalformedError unless `data` is exactly the body of `tile`. */
export function assertTileData(tile: HashTile, data: Uint8Array): void {
  if (!(data instanceof Uint8Array) || data.length !== tile.width * HASH_SIZE)
    throw new MalformedError('tile', `${data?.length} bytes for a tile of width ${tile.width}`);
}

/** Root of the complete subtree over `count` (a power of two) hashes of `data` from hash `start`. */
function subtreeRoot(data: Uint8Array, start: number, count: number): Hash {
  if (count === 1) return data.slice(start * HASH_SIZE, (start + 1) * HASH_SIZE);
  const row: Hash[] = [];
  for (let i = 0; i < count; i += 2) {
    const at = (start + i) * HASH_SIZE;
    row.push(nodeHash(data.subarray(at, at + HASH_SIZE), data.subarray(at + HASH_SIZE, at + 2 * HASH_SIZE)));
  }
  for (let n = row.length; n > 1; n /= 2)
    for (let i = 0; i < n / 2; i++) row[i] = nodeHash(row[2 * i]!, row[2 * i + 1]!);
  return row[0]!;
}

/** Hash of a full tile: the stored hash (level 8(L+1), index N) it contributes to the tile above. */
export function fullTileHash(data: Uint8Array): Hash {
  if (data.length !== TILE_WIDTH * HASH_SIZE)
    throw new MalformedError('tile', `full tile of ${data.length} bytes`);
  return subtreeRoot(data, 0, TILE_WIDTH);
}

/**
 * Stored hash `id` computed from the body of `tile` (Go's HashFromTile). Throws OutOfRangeError when the
 * tile does not contain `id`, MalformedError when `data` is not `tile.width` hashes.
 */
export function hashFromTile(tile: HashTile, data: Uint8Array, id: HashId): Hash {
  assertTileData(tile, data);
  const at = tileForHash(id);
  if (at.tile.level !== tile.level || at.tile.index !== tile.index || at.end > tile.width)
    throw new OutOfRangeError(
      `hash ${id.level}/${id.index} is not in tile ${tile.level}/${tile.index}.p/${tile.width}`,
    );
  return subtreeRoot(data, at.start, at.end - at.start);
}

/**
 * Tiles that differ between trees of `oldSize` and `newSize` leaves (Go's NewTiles), lowest level first,
 * from tile level `fromLevel` up (a sync plans only the upper levels, about n / 65,536 tiles for n new
 * leaves, and streams the n / 256 level-0 tiles instead).
 */
export function newTiles(oldSize: number, newSize: number, fromLevel = 0): HashTile[] {
  assertTreeSize(oldSize, 'old tree size');
  assertTreeSize(newSize, 'new tree size');
  if (oldSize > newSize) throw new OutOfRangeError(`old size ${oldSize} exceeds new size ${newSize}`);
  const tiles: HashTile[] = [];
  for (let level = fromLevel; tileLevelCount(level, newSize) > 0; level++) {
    const oldCount = tileLevelCount(level, oldSize);
    const newCount = tileLevelCount(level, newSize);
    if (oldCount === newCount) continue;
    const lastFull = Math.floor(newCount / TILE_WIDTH);
    for (let index = Math.floor(oldCount / TILE_WIDTH); index < lastFull; index++)
      tiles.push({ kind: 'hash', level, index, width: TILE_WIDTH });
    const width = newCount % TILE_WIDTH;
    if (width > 0) tiles.push({ kind: 'hash', level, index: lastFull, width });
  }
  return tiles;
}

/** Every tile of a tree of `size` leaves: the full ones and the partial rightmost one per level. */
export function treeTiles(size: number): HashTile[] {
  return newTiles(0, size);
}

/**
 * The partial tiles of a tree of `size` leaves, lowest level first: its right edge. They are all a
 * sequencer needs to grow the tree (see appendLeaves), and all the tree hash depends on.
 */
export function edgeTiles(size: number): HashTile[] {
  assertTreeSize(size);
  const tiles: HashTile[] = [];
  for (let level = 0; tileLevelCount(level, size) > 0; level++) {
    const count = tileLevelCount(level, size);
    if (count % TILE_WIDTH > 0)
      tiles.push({ kind: 'hash', level, index: Math.floor(count / TILE_WIDTH), width: count % TILE_WIDTH });
  }
  return tiles;
}
