/**
 * Which tree sizes cover a tile: what a source must hold to be asked for it (node/sync/source-pool.ts).
 * A full tile exists in every tree large enough; a partial one only while it is the tree's edge.
 */
import { TILE_WIDTH } from '../../protocol/constants.ts';
import type { TileId } from '../../protocol/tile-path.ts';

/** The tree size a source must hold to have `tile` at its width. */
export function sizeNeeded(tile: TileId): number {
  const level = tile.kind === 'hash' ? tile.level : 0;
  return (tile.index * TILE_WIDTH + tile.width) * TILE_WIDTH ** level;
}

/** Whether a tree of `size` has `tile` at its width (a partial tile only while it is the edge). */
export function treeHasTile(tile: TileId, size: number): boolean {
  const level = tile.kind === 'hash' ? tile.level : 0;
  const items = Math.floor(size / TILE_WIDTH ** level);
  const end = tile.index * TILE_WIDTH + tile.width;
  return tile.width === TILE_WIDTH ? items >= end : items === end;
}
