/**
 * One log in the node's LevelDB: its latest checkpoint, its hash tiles and entry bundles (the C2SP
 * tiles are the storage unit as well as the wire unit), and an index from store path to entries.
 * Every read is a handful of point reads (O(log n)); nothing scans.
 *
 * Stored tiles and bundles are kept at their widest width; they change only together with the
 * checkpoint, in one atomic batch, so what is stored always matches the stored checkpoint.
 *
 * Here the store's opening, its checkpoint and its writes; its reads are the layers it extends: the
 * entries and their proofs (node/store/log-entries.ts) on the tiles (node/store/log-tiles.ts).
 */
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import { HASH_SIZE, TILE_WIDTH } from '../../protocol/constants.ts';
import { decodeEntryBundle } from '../../protocol/entry-bundle.ts';
import { OutOfRangeError } from '../../protocol/errors.ts';
import type { LogKey } from '../../protocol/keys.ts';
import { EMPTY_ROOT, type Hash, type HashReader, treeHash } from '../../protocol/merkle.ts';
import { edgeTiles, type TileData } from '../../protocol/tiles.ts';
import { StoreCorruptError } from '../errors.ts';
import type { BatchOp, Database } from './database.ts';
import { checkpointKey, entryBundleKey, pathIndexKey, tileKey } from './layout.ts';
import { LogEntries, pathHashBytes } from './log-entries.ts';
import type { InProgressSync, LogReader } from './log-reader.ts';

export class LogStore extends LogEntries implements LogReader, HashReader {
  readonly key: LogKey;
  private head: SignedCheckpoint | undefined;

  private constructor(db: Database, key: LogKey) {
    super(db, key.logId);
    this.key = key;
  }

  /**
   * Opens the log `key` in `db`: loads its checkpoint (verified with the log key) and checks that the
   * stored tiles hash to its root, so a damaged store is refused instead of served.
   */
  static async open(db: Database, key: LogKey): Promise<LogStore> {
    const store = new LogStore(db, key);
    const note = await db.get(checkpointKey(store.prefix));
    if (note !== undefined) {
      try {
        store.head = openCheckpoint(note, key.verifier);
      } catch (cause) {
        throw new StoreCorruptError(`stored checkpoint of log ${key.logId} does not verify`, { cause });
      }
      const root = await treeHash(store.size, store).catch((cause: unknown) => {
        throw new StoreCorruptError(`stored tiles of log ${key.logId} are incomplete`, { cause });
      });
      if (!Buffer.from(root).equals(store.head.root)) {
        throw new StoreCorruptError(`stored tiles of log ${key.logId} do not hash to its checkpoint`);
      }
    }
    return store;
  }

  checkpoint(): SignedCheckpoint | undefined {
    return this.head;
  }

  /** Size of the tree at the latest checkpoint (0 without one). */
  get size(): number {
    return this.head?.size ?? 0;
  }

  get root(): Hash {
    return this.head?.root ?? EMPTY_ROOT;
  }

  /** The verified part of the sync under way, set by the sync while it runs (node/sync/log-sync.ts). */
  syncing: InProgressSync | undefined;

  // ---- reads (and node/store/log-entries.ts, node/store/log-tiles.ts) -----------------------------

  inProgress(): InProgressSync | undefined {
    return this.syncing;
  }

  // ---- writes (used by the sequencer and by followers) --------------------------------------------

  /** The partial tiles of the current tree with their bodies: what appendLeaves needs. */
  async edge(): Promise<TileData[]> {
    const tiles = edgeTiles(this.size);
    const bodies = await this.db.getMany(tiles.map((t) => tileKey(this.prefix, t.level, t.index)));
    return tiles.map((tile, i) => {
      const data = bodies[i];
      if (data === undefined || data.length !== tile.width * HASH_SIZE) {
        throw new StoreCorruptError(`edge tile ${tile.level}/${tile.index} of ${this.logId} is missing`);
      }
      return { tile, data };
    });
  }

  /** The entries of the current partial entry bundle (empty when the tree ends on a full bundle). */
  async partialBundle(): Promise<Uint8Array[]> {
    const width = this.size % TILE_WIDTH;
    if (width === 0) return [];
    const index = Math.floor(this.size / TILE_WIDTH);
    const data = await this.db.get(entryBundleKey(this.prefix, index));
    if (data === undefined) throw new StoreCorruptError(`entry bundle ${index} of ${this.logId} is missing`);
    return decodeEntryBundle(data, width).map((e) => Uint8Array.from(e));
  }

  tileOp(tile: TileData): BatchOp {
    return { type: 'put', key: tileKey(this.prefix, tile.tile.level, tile.tile.index), value: tile.data };
  }

  bundleOp(index: number, bundle: Uint8Array): BatchOp {
    return { type: 'put', key: entryBundleKey(this.prefix, index), value: bundle };
  }

  pathIndexKey(hashPart: string): Uint8Array {
    return pathIndexKey(this.prefix, pathHashBytes(hashPart));
  }

  checkpointOp(note: Uint8Array): BatchOp {
    return { type: 'put', key: checkpointKey(this.prefix), value: note };
  }

  /** Adopts a checkpoint whose batch has been written (durably) by the caller. */
  advance(checkpoint: SignedCheckpoint): void {
    if (checkpoint.size < this.size) throw new OutOfRangeError('a log never shrinks');
    this.head = checkpoint;
  }
}
