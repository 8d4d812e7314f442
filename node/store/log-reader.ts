/**
 * The read side of a stored log, as the HTTP server, the tile exchange and followers see it.
 * Implemented by node/store/log-store.ts (its tile reads: node/store/log-tiles.ts).
 */
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import type { LogKey } from '../../protocol/keys.ts';
import type { TileId } from '../../protocol/tile-path.ts';

export interface LogReader {
  readonly logId: string;
  readonly key: LogKey;
  /** The latest checkpoint (verified or signed by us), or undefined for a log with none yet. */
  checkpoint(): SignedCheckpoint | undefined;
  /**
   * The body of a hash tile or entry bundle as of the latest checkpoint, exactly `tile.width` items;
   * undefined when the tree does not have that tile (or not at that width).
   */
  readTile(tile: TileId): Promise<Uint8Array | undefined>;
  /** The verified part of a sync of the log under way, or undefined (none, or nothing verified yet). */
  inProgress?(): InProgressSync | undefined;
}

/**
 * What a sync under way has verified against its target, a checkpoint signed by the log key
 * (node/sync/verified-tiles.ts): served to peers syncing too (docs/PROTOCOL.md, "Tile exchange").
 */
export interface InProgressSync {
  readonly target: SignedCheckpoint;
  /** Leaves verified: every full level-0 tile and bundle below, and all of the target when its size. */
  readonly verified: number;
  /** A verified level-0 tile or bundle of the target at its width there; undefined for any other. */
  readTile(tile: TileId): Promise<Uint8Array | undefined>;
}

/** The logs a node holds, by log ID. */
export interface LogDirectory {
  get(logId: string): LogReader | undefined;
  list(): readonly LogReader[];
  /** Whether the log is the node's own (it signs it): it seeds it (node/network/upload-slots.ts). */
  own?(logId: string): boolean;
}
