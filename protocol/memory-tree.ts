/**
 * An in-memory Merkle tree that keeps every complete-subtree hash (about 2n hashes for n leaves).
 * It is a synchronous HashReader, so the generic id-based proof code runs on it unchanged; for tests,
 * benchmarks and small tools, not for storage.
 */

import { consistencyProofFromHashes, consistencyProofIds } from './consistency-proof.ts';
import { OutOfRangeError } from './errors.ts';
import { inclusionProofFromHashes, inclusionProofIds } from './inclusion-proof.ts';
import {
  assertHash,
  assertTreeSize,
  type Hash,
  type HashId,
  type HashReader,
  nodeHash,
  treeHashFromHashes,
  treeHashIds,
} from './merkle.ts';

export class MemoryTree implements HashReader {
  // levels[l][i] is the hash of HashId { level: l, index: i }.
  private readonly levels: Hash[][] = [[]];

  /** A tree over `leafHashes` (already leaf-hashed). */
  static fromLeafHashes(leafHashes: Iterable<Hash>): MemoryTree {
    const tree = new MemoryTree();
    for (const h of leafHashes) tree.append(h);
    return tree;
  }

  /** Number of leaves. */
  get size(): number {
    return this.levels[0]!.length;
  }

  /** Appends one leaf hash, completing any subtrees it closes. */
  append(leaf: Hash): void {
    assertHash(leaf, 'leaf hash');
    let level = 0;
    let index = this.levels[0]!.length;
    this.levels[0]!.push(leaf);
    while (index % 2 === 1) {
      const row = this.levels[level]!;
      const parent = nodeHash(row[index - 1]!, row[index]!);
      level++;
      let up = this.levels[level];
      if (up === undefined) {
        up = [];
        this.levels.push(up);
      }
      up.push(parent);
      index = (index - 1) / 2;
    }
  }

  /** Stored hashes by id; throws OutOfRangeError for a subtree that is not complete in this tree. */
  readHashes(ids: readonly HashId[]): Hash[] {
    return ids.map(({ level, index }) => {
      const h = this.levels[level]?.[index];
      if (h === undefined) throw new OutOfRangeError(`no hash at level ${level}, index ${index}`);
      return h;
    });
  }

  /** Root of the prefix tree of `size` leaves (default: all). */
  root(size = this.size): Hash {
    this.checkSize(size);
    return treeHashFromHashes(size, this.readHashes(treeHashIds(size)));
  }

  /** Inclusion proof of leaf `index` in the prefix tree of `size` leaves (default: all). */
  inclusionProof(index: number, size = this.size): Hash[] {
    this.checkSize(size);
    return inclusionProofFromHashes(size, index, this.readHashes(inclusionProofIds(size, index)));
  }

  /** Consistency proof from the prefix tree of `oldSize` leaves to that of `newSize` (default: all). */
  consistencyProof(oldSize: number, newSize = this.size): Hash[] {
    this.checkSize(newSize);
    return consistencyProofFromHashes(
      oldSize,
      newSize,
      this.readHashes(consistencyProofIds(oldSize, newSize)),
    );
  }

  private checkSize(size: number): void {
    assertTreeSize(size);
    if (size > this.size) throw new OutOfRangeError(`tree size ${size} exceeds ${this.size} leaves`);
  }
}
