/**
 * The read side of a stored log, as the HTTP server, the tile exchange and followers see it.
 * Implemented by node/store/log-store.ts.
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
}

/** The logs a node holds, by log ID. */
export interface LogDirectory {
  get(logId: string): LogReader | undefined;
  list(): readonly LogReader[];
}
