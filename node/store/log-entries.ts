/**
 * The entries of a stored log (node/store/log-store.ts) and their proofs: entries by index and by store
 * path (the path index), inclusion and consistency proofs, and the root of any tree up to its checkpoint,
 * all read out of its tiles and bundles (node/store/log-tiles.ts). The middle layer of LogStore (LogStore
 * extends this): what lookups, votes and checks read of a log, kept apart from how its tiles are read and
 * from how the store is opened and written.
 */
import { consistencyProofFromHashes, consistencyProofIds } from '../../protocol/consistency-proof.ts';
import { TILE_WIDTH } from '../../protocol/constants.ts';
import { OutOfRangeError } from '../../protocol/errors.ts';
import { inclusionProofFromHashes, inclusionProofIds } from '../../protocol/inclusion-proof.ts';
import { type Hash, treeHash } from '../../protocol/merkle.ts';
import { decodeNix32 } from '../../protocol/nix32.ts';
import { parseHashPart } from '../../protocol/store-path.ts';
import { StoreCorruptError } from '../errors.ts';
import { decodeIndexList, entryBundleKey, MAX_PATH_ENTRIES, pathIndexKey, tileKey } from './layout.ts';
import { LogTiles, tilesHolding } from './log-tiles.ts';

/** An entry of the log and its position. */
export interface IndexedEntry {
  readonly index: number;
  readonly entry: Uint8Array;
}

/** An entry of the log, its position and its inclusion proof in a tree. */
export interface ProvenEntry extends IndexedEntry {
  readonly proof: Hash[];
}

export abstract class LogEntries extends LogTiles {
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
