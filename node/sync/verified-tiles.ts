/**
 * The verified tiles of a sync under way (node/sync/log-sync.ts), served to peers syncing the same log
 * while this node syncs (docs/PROTOCOL.md, "Tile exchange": `<logID>/progress`): every level-0 tile and
 * entry bundle the sync has checked against its target, a checkpoint signed by the log key, whether it
 * still waits in memory for its step or is staged on disk (node/sync/sync-stage.ts). Nothing unverified is
 * here: a bundle enters once checkBundle accepted it, and leaves memory once its step is stored.
 *
 * `verified` is what the node claims (a peer that says "not found" for a tile it claims is withholding):
 * the contiguous prefix of verified bundles, in leaves (a multiple of 256, or the whole target). Bundles
 * verified beyond the prefix are served too, unclaimed.
 */
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { TILE_WIDTH } from '../../protocol/constants.ts';
import type { TileId } from '../../protocol/tile-path.ts';
import type { InProgressSync } from '../store/log-reader.ts';
import type { LogStore } from '../store/log-store.ts';
import type { VerifiedBundle } from './sync-stage.ts';

export class VerifiedTiles implements InProgressSync {
  readonly target: SignedCheckpoint;
  private readonly store: LogStore;
  /** Bundles below this index are stored: committed, or staged against a target consistent with ours. */
  private storedBelow: number;
  /** Bundles below this index are verified (stored, or held). */
  private prefix: number;
  /** Verified bundles awaiting their step, by index. */
  private readonly held = new Map<number, VerifiedBundle>();
  private readonly bundles: number;

  /**
   * `start`: leaves already held (committed or staged) when the sync begins fetching. `previous`: the
   * tiles of an earlier sync of the log that ended before its commit, against a target this one's tree
   * is consistent with: its full tiles are this target's too, still served (peers were told of them).
   */
  constructor(store: LogStore, target: SignedCheckpoint, start: number, previous?: VerifiedTiles) {
    this.store = store;
    this.target = target;
    this.storedBelow = Math.floor(start / TILE_WIDTH);
    this.prefix = this.storedBelow;
    this.bundles = Math.ceil(target.size / TILE_WIDTH);
    for (const b of previous?.held.values() ?? [])
      if (b.tile.tile.width === TILE_WIDTH && (b.index + 1) * TILE_WIDTH <= target.size) this.add(b);
  }

  get verified(): number {
    return this.prefix >= this.bundles ? this.target.size : this.prefix * TILE_WIDTH;
  }

  /** A bundle (with its level-0 tile) that checkBundle accepted against the target. */
  add(bundle: VerifiedBundle): void {
    if (bundle.index < this.storedBelow) return;
    this.held.set(bundle.index, bundle);
    while (this.held.has(this.prefix)) this.prefix++;
  }

  /** Bundles now stored by a step (contiguous, in order): read from the store from now on. */
  stored(bundles: readonly VerifiedBundle[]): void {
    for (const b of bundles) {
      if (b.tile.tile.width !== TILE_WIDTH) continue; // the target's edge: only a commit stores it
      this.storedBelow = Math.max(this.storedBelow, b.index + 1);
      this.held.delete(b.index);
    }
  }

  async readTile(tile: TileId): Promise<Uint8Array | undefined> {
    if (tile.kind === 'hash' && tile.level !== 0) return undefined;
    const { index } = tile;
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.bundles) return undefined;
    const width = Math.min(TILE_WIDTH, this.target.size - index * TILE_WIDTH);
    if (tile.width !== width) return undefined;
    const held = this.held.get(index);
    if (held !== undefined) return tile.kind === 'hash' ? held.tile.data : held.bundle;
    if (index < this.storedBelow) return this.store.readStaged(tile);
    return undefined;
  }
}
