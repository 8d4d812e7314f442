/**
 * Interior hashes of full hash tiles, computed once per tile and kept in a bounded LRU.
 * A proof needs one subtree root per tree level; inside a tile those are subtrees of up to 128 stored
 * hashes, so recomputing them from the tile's bottom row costs ~250 SHA-256s per tile per proof.
 * Full tiles never change, so their interior rows can be cached safely.
 */
import { HASH_SIZE, TILE_HEIGHT, TILE_WIDTH } from '../../protocol/constants.ts';
import { type Hash, nodeHash } from '../../protocol/merkle.ts';

export class TileHashCache {
  private readonly maxTiles: number;
  /** rows[k] holds the 256 / 2^k hashes of height k above the tile's bottom row (k = 1..8). */
  private readonly tiles = new Map<string, Uint8Array[]>();

  /** Keeps at most `maxTiles` tiles (about 16 KiB each). Default 1024. */
  constructor(maxTiles = 1024) {
    this.maxTiles = maxTiles;
  }

  /**
   * The root of the `count` (a power of two) hashes of full tile `key` (body `data`) from hash `start`
   * (a multiple of `count`).
   */
  subtreeRoot(key: string, data: Uint8Array, start: number, count: number): Hash {
    if (count === 1) return data.subarray(start * HASH_SIZE, (start + 1) * HASH_SIZE);
    let rows = this.tiles.get(key);
    if (rows === undefined) {
      rows = interiorRows(data);
      this.tiles.set(key, rows);
      if (this.tiles.size > this.maxTiles) this.tiles.delete(this.tiles.keys().next().value!);
    } else {
      // Refresh its place in the LRU order.
      this.tiles.delete(key);
      this.tiles.set(key, rows);
    }
    const height = Math.log2(count);
    const at = start / count;
    return rows[height - 1]!.subarray(at * HASH_SIZE, (at + 1) * HASH_SIZE);
  }
}

function interiorRows(data: Uint8Array): Uint8Array[] {
  const rows: Uint8Array[] = [];
  let below = data;
  for (let k = 1, width = TILE_WIDTH / 2; k <= TILE_HEIGHT; k++, width /= 2) {
    const row = new Uint8Array(width * HASH_SIZE);
    for (let i = 0; i < width; i++) {
      const l = below.subarray(2 * i * HASH_SIZE, (2 * i + 1) * HASH_SIZE);
      const r = below.subarray((2 * i + 1) * HASH_SIZE, (2 * i + 2) * HASH_SIZE);
      row.set(nodeHash(l, r), i * HASH_SIZE);
    }
    rows.push(row);
    below = row;
  }
  return rows;
}
