/**
 * RFC 9162 consistency proofs (section 2.1.4): generation from stored hashes and verification.
 *
 * Wire shape: a list of 32-byte subtree hashes, fixed in length by (oldSize, newSize). Empty when
 * oldSize is 0 or equals newSize: as in C2SP tlog-witness and the CCTV vectors, (0, n, []) is a valid
 * proof, provided the old root is the empty-tree root.
 */
import { OutOfRangeError, VerificationError } from './errors.ts';
import {
  assertHash,
  assertProof,
  assertTreeSize,
  bitLength,
  EMPTY_ROOT,
  type Hash,
  HashCursor,
  type HashId,
  type HashReader,
  hashesEqual,
  nodeHash,
  splitPoint,
  subtreeIds,
} from './merkle.ts';

const WHAT = 'consistency proof';

function checkSizes(oldSize: number, newSize: number): void {
  assertTreeSize(oldSize, 'old tree size');
  assertTreeSize(newSize, 'new tree size');
  if (oldSize > newSize) throw new OutOfRangeError(`old size ${oldSize} exceeds new size ${newSize}`);
}

// RFC 9162 SUBPROOF(m, D[lo:hi], b), with b true exactly while lo == 0.
function collectIds(lo: number, hi: number, m: number, out: HashId[]): void {
  if (m === hi) {
    if (lo !== 0) subtreeIds(lo, hi, out);
    return;
  }
  const k = splitPoint(hi - lo);
  if (m <= lo + k) {
    collectIds(lo, lo + k, m, out);
    subtreeIds(lo + k, hi, out);
  } else {
    subtreeIds(lo, lo + k, out);
    collectIds(lo + k, hi, m, out);
  }
}

function assemble(lo: number, hi: number, m: number, cursor: HashCursor, proof: Hash[]): void {
  if (m === hi) {
    if (lo !== 0) proof.push(cursor.range(lo, hi));
    return;
  }
  const k = splitPoint(hi - lo);
  if (m <= lo + k) {
    assemble(lo, lo + k, m, cursor, proof);
    proof.push(cursor.range(lo + k, hi));
  } else {
    const left = cursor.range(lo, lo + k);
    assemble(lo + k, hi, m, cursor, proof);
    proof.push(left);
  }
}

/** Ids of the stored hashes a consistency proof from `oldSize` to `newSize` needs (none if trivial). */
export function consistencyProofIds(oldSize: number, newSize: number): HashId[] {
  checkSizes(oldSize, newSize);
  const out: HashId[] = [];
  if (oldSize > 0 && oldSize < newSize) collectIds(0, newSize, oldSize, out);
  return out;
}

/** Assembles the consistency proof from the hashes of consistencyProofIds(oldSize, newSize), in order. */
export function consistencyProofFromHashes(
  oldSize: number,
  newSize: number,
  hashes: readonly Hash[],
): Hash[] {
  checkSizes(oldSize, newSize);
  const cursor = new HashCursor(hashes);
  const proof: Hash[] = [];
  if (oldSize > 0 && oldSize < newSize) assemble(0, newSize, oldSize, cursor, proof);
  cursor.end();
  return proof;
}

/** The consistency proof between trees of `oldSize` and `newSize` leaves, with one batched read. */
export async function proveConsistency(
  oldSize: number,
  newSize: number,
  reader: HashReader,
): Promise<Hash[]> {
  const ids = consistencyProofIds(oldSize, newSize);
  return consistencyProofFromHashes(oldSize, newSize, ids.length === 0 ? [] : await reader.readHashes(ids));
}

/**
 * The roots of both trees as a consistency path from `oldSize` to `newSize` (0 < oldSize < newSize)
 * determines them (RFC 9162 section 2.1.4.2). The path is the proof, preceded by the old tree's hash
 * itself when oldSize is a power of two. Fork evidence uses this to show what the larger tree's prefix is.
 */
export function rootsFromConsistencyPath(
  oldSize: number,
  newSize: number,
  path: readonly Hash[],
): [Hash, Hash] {
  assertTreeSize(oldSize, 'old tree size');
  assertTreeSize(newSize, 'new tree size');
  assertProof(path, WHAT);
  if (oldSize === 0 || oldSize >= newSize)
    throw new VerificationError(WHAT, `no consistency path from size ${oldSize} to ${newSize}`);
  if (path.length === 0) throw new VerificationError(WHAT, 'proof is empty');
  return rootsFromPath(oldSize, newSize, path);
}

function rootsFromPath(oldSize: number, newSize: number, path: readonly Hash[]): [Hash, Hash] {
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) throw new VerificationError(WHAT, 'proof is too long');
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new VerificationError(WHAT, 'proof is too short');
  return [fr, sr];
}

/**
 * Verifies that the tree (newSize, newRoot) extends the tree (oldSize, oldRoot), by RFC 9162
 * section 2.1.4.2. Also: oldSize == newSize needs an empty proof and equal roots; oldSize == 0 needs an
 * empty proof and oldRoot == EMPTY_ROOT.
 * Throws MalformedError for hashes that are not 32 bytes or a proof over MAX_PROOF_HASHES, OutOfRangeError
 * for sizes that are not safe integers, VerificationError for everything else (including oldSize > newSize).
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Hash,
  newRoot: Hash,
  proof: readonly Hash[],
): void {
  assertTreeSize(oldSize, 'old tree size');
  assertTreeSize(newSize, 'new tree size');
  assertHash(oldRoot, 'old root hash');
  assertHash(newRoot, 'new root hash');
  assertProof(proof, WHAT);
  if (oldSize > newSize) throw new VerificationError(WHAT, `old size ${oldSize} exceeds new size ${newSize}`);
  if (oldSize === 0 && !hashesEqual(oldRoot, EMPTY_ROOT))
    throw new VerificationError(WHAT, 'a tree of size 0 must have the empty root');
  if (oldSize === newSize || oldSize === 0) {
    if (proof.length !== 0) throw new VerificationError(WHAT, 'proof must be empty');
    if (oldSize === newSize && !hashesEqual(oldRoot, newRoot))
      throw new VerificationError(WHAT, 'trees of equal size have different roots');
    return;
  }
  if (proof.length === 0) throw new VerificationError(WHAT, 'proof is empty');

  // The old root is the first node of the path exactly when the old tree is a complete subtree.
  const path = 2 ** (bitLength(oldSize) - 1) === oldSize ? [oldRoot, ...proof] : proof;
  const [fr, sr] = rootsFromPath(oldSize, newSize, path);
  if (!hashesEqual(fr, oldRoot)) throw new VerificationError(WHAT, 'old root does not match');
  if (!hashesEqual(sr, newRoot)) throw new VerificationError(WHAT, 'new root does not match');
}
