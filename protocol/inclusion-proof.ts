/**
 * RFC 9162 inclusion proofs (section 2.1.3): generation from stored hashes and verification.
 *
 * Wire shape: the proof is the list of sibling subtree hashes from the leaf up to the root
 * ("audit path"), each 32 bytes; its length is fixed by (index, size).
 */
import { OutOfRangeError, VerificationError } from './errors.ts';
import {
  assertHash,
  assertProof,
  assertTreeSize,
  type Hash,
  HashCursor,
  type HashId,
  type HashReader,
  hashesEqual,
  nodeHash,
  splitPoint,
  subtreeIds,
} from './merkle.ts';

function checkLeaf(size: number, index: number): void {
  assertTreeSize(size);
  assertTreeSize(index, 'leaf index');
  if (index >= size) throw new OutOfRangeError(`leaf index ${index} is not in a tree of size ${size}`);
}

function collectIds(lo: number, hi: number, index: number, out: HashId[]): void {
  if (hi - lo === 1) return;
  const k = splitPoint(hi - lo);
  if (index < lo + k) {
    collectIds(lo, lo + k, index, out);
    subtreeIds(lo + k, hi, out);
  } else {
    subtreeIds(lo, lo + k, out);
    collectIds(lo + k, hi, index, out);
  }
}

function assemble(lo: number, hi: number, index: number, cursor: HashCursor, proof: Hash[]): void {
  if (hi - lo === 1) return;
  const k = splitPoint(hi - lo);
  if (index < lo + k) {
    assemble(lo, lo + k, index, cursor, proof);
    proof.push(cursor.range(lo + k, hi));
  } else {
    const left = cursor.range(lo, lo + k);
    assemble(lo + k, hi, index, cursor, proof);
    proof.push(left);
  }
}

/** Ids of the stored hashes an inclusion proof of leaf `index` in a tree of `size` needs. */
export function inclusionProofIds(size: number, index: number): HashId[] {
  checkLeaf(size, index);
  const out: HashId[] = [];
  collectIds(0, size, index, out);
  return out;
}

/** Assembles the inclusion proof from the hashes of inclusionProofIds(size, index), in order. */
export function inclusionProofFromHashes(size: number, index: number, hashes: readonly Hash[]): Hash[] {
  checkLeaf(size, index);
  const cursor = new HashCursor(hashes);
  const proof: Hash[] = [];
  assemble(0, size, index, cursor, proof);
  cursor.end();
  return proof;
}

/** The inclusion proof of leaf `index` in the tree of `size` leaves, with one batched read. */
export async function proveInclusion(size: number, index: number, reader: HashReader): Promise<Hash[]> {
  const ids = inclusionProofIds(size, index);
  return inclusionProofFromHashes(size, index, ids.length === 0 ? [] : await reader.readHashes(ids));
}

/**
 * The root implied by an inclusion proof (RFC 9162 section 2.1.3.2, steps 1-5 without the final compare).
 * Throws MalformedError for bad hash lengths or an over-long proof, OutOfRangeError for sizes that are not
 * safe integers, and VerificationError when index >= size or the proof has the wrong length.
 */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leaf: Hash,
  proof: readonly Hash[],
): Hash {
  assertTreeSize(size);
  assertTreeSize(index, 'leaf index');
  assertHash(leaf, 'leaf hash');
  assertProof(proof, 'inclusion proof');
  if (index >= size)
    throw new VerificationError('inclusion proof', `leaf index ${index} is not below tree size ${size}`);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new VerificationError('inclusion proof', 'proof is too long');
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // Skip the levels where our node is promoted without a sibling (right edge of the tree).
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new VerificationError('inclusion proof', 'proof is too short');
  return r;
}

/**
 * Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves with root `root`.
 * Throws VerificationError when it is not (see rootFromInclusionProof for the other errors).
 */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Hash,
  proof: readonly Hash[],
  root: Hash,
): void {
  assertHash(root, 'root hash');
  const computed = rootFromInclusionProof(index, size, leaf, proof);
  if (!hashesEqual(computed, root))
    throw new VerificationError('inclusion proof', 'computed root differs from the tree root');
}
