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

/** What a source said of its sync under way (protocol/sync-progress.ts): its target's size, leaves verified. */
export interface ProgressClaim {
  readonly size: number;
  readonly verified: number;
}

/**
 * Whether a sync under way with this progress may yet verify `tiles` (needing a tree of `needs`): level-0
 * tiles and bundles of its target it has not verified all of (upper tiles are served only once it
 * commits).
 */
export function growing(
  progress: ProgressClaim | undefined,
  needs: number,
  tiles: readonly TileId[],
): boolean {
  return (
    progress !== undefined &&
    progress.verified < progress.size &&
    needs <= progress.size &&
    tiles.every((t) => t.kind === 'entries' || t.level === 0)
  );
}

/**
 * Whether a progress claim covers `tile`: a full level-0 tile or bundle below `verified`, or any level-0
 * tile of the target once all of it is verified (the upper levels are not served before the commit).
 */
export function progressHasTile(tile: TileId, claim: ProgressClaim | undefined): boolean {
  if (claim === undefined || (tile.kind === 'hash' && tile.level !== 0)) return false;
  if (tile.width === TILE_WIDTH && sizeNeeded(tile) <= claim.verified) return true;
  return claim.verified === claim.size && treeHasTile(tile, claim.size);
}
