/**
 * One log in the node's LevelDB: its latest checkpoint, its hash tiles and entry bundles (the C2SP
 * tiles are the storage unit as well as the wire unit), and an index from store path to entries.
 * Every read is a handful of point reads (O(log n)); nothing scans.
 *
 * Stored tiles and bundles are kept at their widest width; they change only together with the
 * checkpoint, in one atomic batch, so what is stored always matches the stored checkpoint.
 */
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import { consistencyProofFromHashes, consistencyProofIds } from '../../protocol/consistency-proof.ts';
import { HASH_SIZE, TILE_WIDTH } from '../../protocol/constants.ts';
import { decodeEntryBundle } from '../../protocol/entry-bundle.ts';
import { OutOfRangeError } from '../../protocol/errors.ts';
import { inclusionProofFromHashes, inclusionProofIds } from '../../protocol/inclusion-proof.ts';
import type { LogKey } from '../../protocol/keys.ts';
import { EMPTY_ROOT, type Hash, type HashId, type HashReader, treeHash } from '../../protocol/merkle.ts';
import { decodeNix32 } from '../../protocol/nix32.ts';
import { parseHashPart } from '../../protocol/store-path.ts';
import type { HashTile, TileId } from '../../protocol/tile-path.ts';
import { edgeTiles, hashFromTile, type TileData, tileForHash, tileInTree } from '../../protocol/tiles.ts';
import { StoreCorruptError } from '../errors.ts';
import type { BatchOp, Database } from './database.ts';
import {
  checkpointKey,
  decodeIndexList,
  entryBundleKey,
  logPrefix,
  MAX_PATH_ENTRIES,
  pathIndexKey,
  tileKey,
} from './layout.ts';
import type { InProgressSync, LogReader } from './log-reader.ts';
import { TileHashCache } from './tile-hash-cache.ts';

/** An entry of the log and its position. */
export interface IndexedEntry {
  readonly index: number;
  readonly entry: Uint8Array;
}

/** An entry of the log, its position and its inclusion proof in a tree. */
export interface ProvenEntry extends IndexedEntry {
  readonly proof: Hash[];
}

/** The hash tiles holding `ids`, each once. */
function tilesHolding(ids: readonly HashId[]): { level: number; index: number }[] {
  const tiles = ids.map((id) => tileForHash(id).tile);
  return [...new Map(tiles.map((t) => [`${t.level}/${t.index}`, t])).values()];
}

export class LogStore implements LogReader, HashReader {
  readonly logId: string;
  readonly key: LogKey;
  private readonly db: Database;
  private readonly prefix: Uint8Array;
  private head: SignedCheckpoint | undefined;
  private readonly tileHashes = new TileHashCache();

  private constructor(db: Database, key: LogKey) {
    this.db = db;
    this.key = key;
    this.logId = key.logId;
    this.prefix = logPrefix(key.logId);
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

  // ---- reads -------------------------------------------------------------------------------------

  inProgress(): InProgressSync | undefined {
    return this.syncing;
  }

  /**
   * A full level-0 tile or entry bundle stored beyond the checkpoint by a sync step (node/sync/sync-stage.ts),
   * unclipped: the caller knows it is staged and verified. Undefined when absent.
   */
  async readStaged(tile: TileId): Promise<Uint8Array | undefined> {
    if (tile.width !== TILE_WIDTH || (tile.kind === 'hash' && tile.level !== 0)) return undefined;
    if (tile.kind === 'entries') return this.db.get(entryBundleKey(this.prefix, tile.index));
    const data = await this.db.get(tileKey(this.prefix, 0, tile.index));
    return data?.length === TILE_WIDTH * HASH_SIZE ? data : undefined;
  }

  async readTile(tile: TileId): Promise<Uint8Array | undefined> {
    if (tile.kind === 'hash') {
      const have = this.hashTileInTree(tile.level, tile.index);
      // A narrower width than stored is a prefix: served too (a client behind the latest checkpoint).
      if (have === undefined || tile.width > have.width) return undefined;
      const data = await this.db.get(tileKey(this.prefix, tile.level, tile.index));
      return data?.subarray(0, tile.width * HASH_SIZE);
    }
    const have = this.hashTileInTree(0, tile.index);
    if (have === undefined || tile.width > have.width) return undefined;
    const data = await this.db.get(entryBundleKey(this.prefix, tile.index));
    return data === undefined ? undefined : bundlePrefix(data, tile.width);
  }

  /** Stored hashes by id (trusted: our own storage, written with its checkpoint). */
  async readHashes(ids: readonly HashId[]): Promise<Hash[]> {
    const tiles = tilesHolding(ids);
    return this.hashesIn(
      ids,
      tiles,
      await this.db.getMany(tiles.map((t) => tileKey(this.prefix, t.level, t.index))),
    );
  }

  /** The hashes `ids` out of the bodies of `tiles` (tilesHolding(ids)), read in that order. */
  private hashesIn(
    ids: readonly HashId[],
    tiles: readonly { level: number; index: number }[],
    bodies: readonly (Uint8Array | undefined)[],
  ): Hash[] {
    const byKey = new Map<string, TileData>();
    tiles.forEach((t, i) => {
      const data = bodies[i];
      if (data === undefined)
        throw new StoreCorruptError(`tile ${t.level}/${t.index} of ${this.logId} is missing`);
      const tile: HashTile = { kind: 'hash', level: t.level, index: t.index, width: data.length / HASH_SIZE };
      byKey.set(`${t.level}/${t.index}`, { tile, data });
    });
    return ids.map((id) => {
      const { tile: located, start, end } = tileForHash(id);
      const key = `${located.level}/${located.index}`;
      const { tile, data } = byKey.get(key)!;
      if (tile.width !== TILE_WIDTH) return hashFromTile(tile, data, id);
      return this.tileHashes.subtreeRoot(key, data, start, end - start);
    });
  }

  /** The entry at `index`, or undefined beyond the tree. */
  async entry(index: number): Promise<Uint8Array | undefined> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) return undefined;
    const bundleIndex = Math.floor(index / TILE_WIDTH);
    const data = await this.db.get(entryBundleKey(this.prefix, bundleIndex));
    if (data === undefined)
      throw new StoreCorruptError(`entry bundle ${bundleIndex} of ${this.logId} is missing`);
    return entryInBundle(data, index % TILE_WIDTH);
  }

  /**
   * The entries at `indices` (undefined beyond the tree), in the same order: each bundle read once, one
   * bundle at a time (many indices in few bundles cost few reads and little memory).
   */
  async entriesAt(indices: readonly number[]): Promise<(Uint8Array | undefined)[]> {
    const out: (Uint8Array | undefined)[] = new Array(indices.length).fill(undefined);
    const byBundle = new Map<number, number[]>();
    indices.forEach((index, i) => {
      if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) return;
      const b = Math.floor(index / TILE_WIDTH);
      const list = byBundle.get(b);
      if (list === undefined) byBundle.set(b, [i]);
      else list.push(i);
    });
    for (const [b, positions] of byBundle) {
      const data = await this.db.get(entryBundleKey(this.prefix, b));
      if (data === undefined) throw new StoreCorruptError(`entry bundle ${b} of ${this.logId} is missing`);
      for (const i of positions) out[i] = entryInBundle(data, indices[i]! % TILE_WIDTH);
    }
    return out;
  }

  /**
   * Every entry for the store path with this hash part, oldest first (a rebuild may have several): at
   * most MAX_PATH_ENTRIES + 1 (that many: the log holds more, see node/store/layout.ts). Read at once.
   */
  async entriesForPath(hashPart: string): Promise<IndexedEntry[]> {
    const indices = await this.indicesForPath(hashPart);
    const entries = await this.entriesAt(indices);
    const out: IndexedEntry[] = [];
    indices.forEach((index, i) => {
      const entry = entries[i];
      if (entry !== undefined) out.push({ index, entry });
    });
    return out;
  }

  /**
   * Entry indices recorded for a store path hash part (within the current tree), in order: at most
   * MAX_PATH_ENTRIES + 1, the first ones (node/store/layout.ts).
   */
  async indicesForPath(hashPart: string): Promise<number[]> {
    const value = await this.db.get(pathIndexKey(this.prefix, pathHashBytes(hashPart)));
    return value === undefined
      ? []
      : decodeIndexList(value, MAX_PATH_ENTRIES + 1).filter((i) => i < this.size);
  }

  /** Inclusion proof of entry `index` in the tree of `size` (default: the latest checkpoint). */
  async inclusionProof(index: number, size = this.size): Promise<Hash[]> {
    this.checkSize(size);
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new OutOfRangeError(`entry ${index} is not in a tree of size ${size}`);
    }
    const ids = inclusionProofIds(size, index);
    return inclusionProofFromHashes(size, index, ids.length === 0 ? [] : await this.readHashes(ids));
  }

  /**
   * The entries at `indices`, each with its inclusion proof in the tree of `size`: their bundles and
   * the proofs' tiles in one read (a lookup's answer, node/network/lookup-service.ts).
   */
  async provenEntries(indices: readonly number[], size: number): Promise<ProvenEntry[]> {
    this.checkSize(size);
    for (const index of indices)
      if (!Number.isSafeInteger(index) || index < 0 || index >= size)
        throw new OutOfRangeError(`entry ${index} is not in a tree of size ${size}`);
    const bundles = [...new Set(indices.map((i) => Math.floor(i / TILE_WIDTH)))];
    const ids = indices.map((index) => inclusionProofIds(size, index));
    const tiles = tilesHolding(ids.flat());
    const bodies = await this.db.getMany([
      ...bundles.map((b) => entryBundleKey(this.prefix, b)),
      ...tiles.map((t) => tileKey(this.prefix, t.level, t.index)),
    ]);
    const hashes = this.hashesIn(ids.flat(), tiles, bodies.slice(bundles.length));
    let at = 0;
    return indices.map((index, i) => {
      const b = Math.floor(index / TILE_WIDTH);
      const data = bodies[bundles.indexOf(b)];
      if (data === undefined) throw new StoreCorruptError(`entry bundle ${b} of ${this.logId} is missing`);
      const proof = inclusionProofFromHashes(size, index, hashes.slice(at, at + ids[i]!.length));
      at += ids[i]!.length;
      return { index, entry: entryInBundle(data, index % TILE_WIDTH), proof };
    });
  }

  /** Consistency proof from the tree of `oldSize` to the tree of `newSize` (default: latest). */
  async consistencyProof(oldSize: number, newSize = this.size): Promise<Hash[]> {
    this.checkSize(newSize);
    const ids = consistencyProofIds(oldSize, newSize);
    return consistencyProofFromHashes(oldSize, newSize, ids.length === 0 ? [] : await this.readHashes(ids));
  }

  /** Root of the tree of `size` leaves (any size up to the latest). */
  async rootAt(size: number): Promise<Hash> {
    this.checkSize(size);
    return treeHash(size, this);
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

  private hashTileInTree(level: number, index: number): HashTile | undefined {
    try {
      return tileInTree(level, index, this.size);
    } catch (err) {
      if (err instanceof OutOfRangeError) return undefined;
      throw err;
    }
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) {
      throw new OutOfRangeError(`size ${size} is beyond the log's ${this.size} entries`);
    }
  }
}

/** The 20 raw bytes of a store path's hash part, the path index's key. */
export function pathHashBytes(hashPart: string): Uint8Array {
  return decodeNix32(parseHashPart(hashPart), 20, 'store path hash');
}

/**
 * Entry `position` of a stored bundle, by walking the length prefixes up to it (a bundle holds up to
 * 256 entries: decoding all of them for one would cost ~100x more). A view, no copy.
 */
function entryInBundle(bundle: Uint8Array, position: number): Uint8Array {
  let pos = 0;
  for (let i = 0; i < position; i++) {
    if (pos + 2 > bundle.length) throw new StoreCorruptError('stored entry bundle is truncated');
    pos += 2 + bundle[pos]! * 256 + bundle[pos + 1]!;
  }
  if (pos + 2 > bundle.length) throw new StoreCorruptError('stored entry bundle is truncated');
  const end = pos + 2 + bundle[pos]! * 256 + bundle[pos + 1]!;
  if (end > bundle.length) throw new StoreCorruptError('stored entry bundle is truncated');
  return bundle.subarray(pos + 2, end);
}

/** The first `count` entries of a stored bundle, as bundle bytes (a prefix: no copy). */
function bundlePrefix(bundle: Uint8Array, count: number): Uint8Array {
  let pos = 0;
  for (let i = 0; i < count; i++) {
    if (pos + 2 > bundle.length) throw new StoreCorruptError('stored entry bundle is truncated');
    pos += 2 + bundle[pos]! * 256 + bundle[pos + 1]!;
  }
  if (pos > bundle.length) throw new StoreCorruptError('stored entry bundle is truncated');
  return bundle.subarray(0, pos);
}
