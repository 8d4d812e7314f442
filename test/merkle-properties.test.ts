// Property tests of the Merkle tree: generation and verification agree, and any single mutation of a
// proof, root, leaf, size or index is rejected (with the one exception RFC 9162 implies, below).
import { createHash } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import {
  consistencyProofFromHashes,
  consistencyProofIds,
  proveConsistency,
  verifyConsistency,
} from '../protocol/consistency-proof.ts';
import { MalformedError, OutOfRangeError, VerificationError } from '../protocol/errors.ts';
import {
  inclusionProofFromHashes,
  inclusionProofIds,
  proveInclusion,
  rootFromInclusionProof,
  verifyInclusion,
} from '../protocol/inclusion-proof.ts';
import { MemoryTree } from '../protocol/memory-tree.ts';
import {
  EMPTY_ROOT,
  type Hash,
  type HashId,
  type HashReader,
  leafHash,
  nodeHash,
  rootFromLeafHashes,
  treeHash,
} from '../protocol/merkle.ts';

const MAX = 2000;
const leaves: Hash[] = Array.from({ length: MAX + 8 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
const tree = MemoryTree.fromLeafHashes(leaves);
const hex = (h: Uint8Array): string => Buffer.from(h).toString('hex');
const RUNS = { numRuns: 150 };

/** RFC 6962 MTH straight from its recursive definition: an independent reference. */
function referenceRoot(d: readonly Hash[]): Hash {
  if (d.length === 0) return EMPTY_ROOT;
  if (d.length === 1) return d[0]!;
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return nodeHash(referenceRoot(d.slice(0, k)), referenceRoot(d.slice(k)));
}

function flipHashBit(h: Hash, bit: number): Hash {
  const out = Uint8Array.from(h);
  out[Math.floor(bit / 8) % out.length]! ^= 1 << (bit % 8);
  return out;
}

/** x with bit b toggled, by arithmetic (x may exceed 2^31). */
function flipNumberBit(x: number, b: number): number {
  const p = 2 ** b;
  return Math.floor(x / p) % 2 === 1 ? x - p : x + p;
}

/**
 * The order in which the RFC 9162 inclusion verifier combines proof hashes for (index, size): 'l' when the
 * proof hash is the left child, 'r' when it is the right one. Undefined when no proof can fit.
 * Two claims with the same shape hash identically: a verifier cannot tell them apart from the root alone.
 */
function inclusionShape(index: number, size: number, length: number): string | undefined {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size)
    return undefined;
  let fn = index;
  let sn = size - 1;
  let shape = '';
  for (let i = 0; i < length; i++) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      shape += 'l';
      while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn / 2, Math.floor(sn / 2)];
    } else shape += 'r';
    [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
  }
  return sn === 0 ? shape : undefined;
}

/** Same for consistency proofs: 'p' when the old root is prepended, then 'b' (both roots) or 'n' (new only). */
function consistencyShape(m: number, n: number, length: number): string | undefined {
  if (![m, n].every(Number.isSafeInteger) || m <= 0 || m >= n || length === 0) return undefined;
  const pow2 = 2 ** Math.round(Math.log2(m)) === m;
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) [fn, sn] = [(fn - 1) / 2, Math.floor(sn / 2)];
  let shape = pow2 ? 'p' : '';
  for (let i = pow2 ? 0 : 1; i < length; i++) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      shape += 'b';
      while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn / 2, Math.floor(sn / 2)];
    } else shape += 'n';
    [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
  }
  return sn === 0 ? shape : undefined;
}

/** Whether `run` throws an instance of one of `classes` (anything else thrown propagates as a failure). */
function rejects(run: () => void, ...classes: (new (...args: never[]) => Error)[]): boolean {
  try {
    run();
  } catch (err) {
    if (classes.some((c) => err instanceof c)) return true;
    throw err;
  }
  return false;
}

function accepts(run: () => void): boolean {
  run();
  return true;
}

const numberMutation = fc.oneof(
  fc.constant((x: number) => x + 1),
  fc.constant((x: number) => x - 1),
  fc.integer({ min: 0, max: 52 }).map((b) => (x: number) => flipNumberBit(x, b)),
);

const sizeAndIndex = fc
  .integer({ min: 1, max: MAX })
  .chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 })));

const oldAndNewSize = fc
  .integer({ min: 1, max: MAX })
  .chain((n) => fc.tuple(fc.integer({ min: 0, max: n }), fc.constant(n)));

test('rootFromLeafHashes, MemoryTree.root and the recursive RFC 6962 definition agree (sizes 0..2000)', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: MAX }), (n) => {
      const want = hex(referenceRoot(leaves.slice(0, n)));
      return hex(rootFromLeafHashes(leaves.slice(0, n))) === want && hex(tree.root(n)) === want;
    }),
    { numRuns: 60 },
  );
  t.is(hex(rootFromLeafHashes([])), hex(EMPTY_ROOT));
});

test('every generated inclusion proof verifies and implies the tree root', (t) => {
  fc.assert(
    fc.property(sizeAndIndex, ([size, index]) => {
      const proof = tree.inclusionProof(index, size);
      verifyInclusion(index, size, leaves[index]!, proof, tree.root(size));
      return hex(rootFromInclusionProof(index, size, leaves[index]!, proof)) === hex(tree.root(size));
    }),
    RUNS,
  );
  t.pass();
});

test('every generated consistency proof verifies, including from size 0 and between equal sizes', (t) => {
  fc.assert(
    fc.property(oldAndNewSize, ([m, n]) => {
      const proof = tree.consistencyProof(m, n);
      verifyConsistency(m, n, tree.root(m), tree.root(n), proof);
      return m === 0 || m === n ? proof.length === 0 : proof.length > 0;
    }),
    RUNS,
  );
  t.pass();
});

test('a single flipped bit in an inclusion proof hash, the leaf or the root is rejected', (t) => {
  fc.assert(
    fc.property(sizeAndIndex, fc.nat(), fc.nat(255), ([size, index], which, bit) => {
      const proof = tree.inclusionProof(index, size);
      const root = tree.root(size);
      let leaf = leaves[index]!;
      const target = which % (proof.length + 2);
      let badRoot = root;
      if (target < proof.length) proof[target] = flipHashBit(proof[target]!, bit);
      else if (target === proof.length) leaf = flipHashBit(leaf, bit);
      else badRoot = flipHashBit(root, bit);
      return rejects(() => verifyInclusion(index, size, leaf, proof, badRoot), VerificationError);
    }),
    RUNS,
  );
  t.pass();
});

test('a mutated inclusion index or size (±1, any bit flip) is rejected unless it hashes along the same path shape', (t) => {
  // RFC 9162 binds the size through the signed root, not the proof: e.g. leaf 0's proof in a tree of 3 is
  // also a well-formed proof for a tree of 4 whose right half hashes to leaf 2. Only then may it pass.
  fc.assert(
    fc.property(sizeAndIndex, fc.boolean(), numberMutation, ([size, index], mutateIndex, mutate) => {
      const proof = tree.inclusionProof(index, size);
      const root = tree.root(size);
      const [i2, s2] = mutateIndex ? [mutate(index), size] : [index, mutate(size)];
      const run = () => verifyInclusion(i2, s2, leaves[index]!, proof, root);
      if (inclusionShape(i2, s2, proof.length) === inclusionShape(index, size, proof.length))
        t.notThrows(run);
      else {
        const err = t.throws(run);
        t.true(err instanceof VerificationError || err instanceof OutOfRangeError, String(err));
      }
    }),
    { numRuns: 300 },
  );
});

test('a single flipped bit in a consistency proof hash or either root is rejected (except the new root from size 0)', (t) => {
  // From the empty tree the proof is empty and says nothing about the new root: any 32-byte new root passes.
  fc.assert(
    fc.property(oldAndNewSize, fc.nat(), fc.nat(255), ([m, n], which, bit) => {
      const proof = tree.consistencyProof(m, n);
      let oldRoot = tree.root(m);
      let newRoot = tree.root(n);
      const target = which % (proof.length + 2);
      if (target < proof.length) proof[target] = flipHashBit(proof[target]!, bit);
      else if (target === proof.length) oldRoot = flipHashBit(oldRoot, bit);
      else newRoot = flipHashBit(newRoot, bit);
      const run = () => verifyConsistency(m, n, oldRoot, newRoot, proof);
      if (m === 0 && n > 0 && target === proof.length + 1) return accepts(run);
      return rejects(run, VerificationError);
    }),
    RUNS,
  );
  t.pass();
});

test('a mutated consistency size (±1, any bit flip) is rejected unless it hashes along the same path shape', (t) => {
  // Two exceptions, both inherent to RFC 9162: a mutation that keeps the path shape (say (2, 3) -> (2, 4)) hashes
  // identically, and (0, n) -> (0, n') stays an empty proof from the empty tree.
  fc.assert(
    fc.property(oldAndNewSize, fc.boolean(), numberMutation, ([m, n], mutateOld, mutate) => {
      const proof = tree.consistencyProof(m, n);
      const [m2, n2] = mutateOld ? [mutate(m), n] : [m, mutate(n)];
      const run = () => verifyConsistency(m2, n2, tree.root(m), tree.root(n), proof);
      const sameShape =
        proof.length > 0 && consistencyShape(m2, n2, proof.length) === consistencyShape(m, n, proof.length);
      const fromEmpty = m === 0 && m2 === 0 && Number.isSafeInteger(n2) && n2 > 0;
      if (sameShape || fromEmpty) return accepts(run);
      return rejects(run, VerificationError, OutOfRangeError);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('treeHash, proveInclusion and proveConsistency over an async reader match the in-memory results', async (t) => {
  const asyncReader: HashReader = { readHashes: async (ids) => tree.readHashes(ids) };
  await fc.assert(
    fc.asyncProperty(sizeAndIndex, fc.nat(), async ([size, index], m0) => {
      const m = m0 % (size + 1);
      t.is(hex(await treeHash(size, asyncReader)), hex(tree.root(size)));
      t.deepEqual(
        (await proveInclusion(size, index, asyncReader)).map(hex),
        tree.inclusionProof(index, size).map(hex),
      );
      t.deepEqual(
        (await proveConsistency(m, size, asyncReader)).map(hex),
        tree.consistencyProof(m, size).map(hex),
      );
    }),
    { numRuns: 50 },
  );
});

// A tree whose leaves are all equal: every complete subtree at a level has the same hash, so any size up to
// 2^53-1 is cheap, and generation and verification can be checked across the whole safe-integer range.
const uniform: Hash[] = [leafHash(new Uint8Array())];
for (let l = 1; l <= 53; l++) uniform.push(nodeHash(uniform[l - 1]!, uniform[l - 1]!));
const uniformReader = (ids: readonly HashId[]): Hash[] => ids.map((id) => uniform[id.level]!);
const uniformRoot = (size: number): Hash => {
  let h: Hash | undefined;
  for (let l = 0; l <= 53; l++)
    if (Math.floor(size / 2 ** l) % 2 === 1) h = h ? nodeHash(uniform[l]!, h) : uniform[l]!;
  return h ?? EMPTY_ROOT;
};
const bigSize = fc.oneof(
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  fc.integer({ min: 0, max: 52 }).map((b) => 2 ** b),
  fc.integer({ min: 1, max: 53 }).map((b) => 2 ** b - 1),
  fc.constant(Number.MAX_SAFE_INTEGER),
);

test('proofs in trees of up to 2^53-1 leaves are generated and verified with exact 64-bit arithmetic', (t) => {
  fc.assert(
    fc.property(
      bigSize,
      bigSize,
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (a, b, f) => {
        const [m, n] = a <= b ? [a, b] : [b, a];
        const index = Math.floor(f * n);
        const ids = inclusionProofIds(n, index);
        for (const id of ids) t.true((id.index + 1) * 2 ** id.level <= n && Number.isSafeInteger(id.index));
        const incl = inclusionProofFromHashes(n, index, uniformReader(ids));
        verifyInclusion(index, n, uniform[0]!, incl, uniformRoot(n));
        const cons = consistencyProofFromHashes(m, n, uniformReader(consistencyProofIds(m, n)));
        verifyConsistency(m, n, uniformRoot(m), uniformRoot(n), cons);
        t.true(incl.length <= 53 && cons.length <= 106);
      },
    ),
    { numRuns: 200 },
  );
});

test('verification rejects sizes and indices beyond safe integers, negative or fractional, as OutOfRangeError', (t) => {
  const proof = tree.inclusionProof(0, 2);
  for (const bad of [-1, 0.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => verifyInclusion(bad, 2, leaves[0]!, proof, tree.root(2)), { instanceOf: OutOfRangeError });
    t.throws(() => verifyInclusion(0, bad, leaves[0]!, proof, tree.root(2)), { instanceOf: OutOfRangeError });
    t.throws(() => verifyConsistency(bad, 2, tree.root(1), tree.root(2), proof), {
      instanceOf: OutOfRangeError,
    });
    t.throws(() => verifyConsistency(1, bad, tree.root(1), tree.root(2), proof), {
      instanceOf: OutOfRangeError,
    });
  }
});

test('hashes that are not 32 bytes and proofs over 128 hashes are MalformedError', (t) => {
  const root = tree.root(3);
  const proof = tree.inclusionProof(0, 3);
  t.throws(() => verifyInclusion(0, 3, leaves[0]!.subarray(1), proof, root), { instanceOf: MalformedError });
  t.throws(() => verifyInclusion(0, 3, leaves[0]!, proof, new Uint8Array(33)), {
    instanceOf: MalformedError,
  });
  t.throws(() => verifyInclusion(0, 3, leaves[0]!, [proof[0]!, new Uint8Array(31)], root), {
    instanceOf: MalformedError,
  });
  t.throws(() => verifyInclusion(0, 3, leaves[0]!, Array(129).fill(proof[0]), root), {
    instanceOf: MalformedError,
  });
  t.throws(() => verifyConsistency(1, 3, tree.root(1), new Uint8Array(0), tree.consistencyProof(1, 3)), {
    instanceOf: MalformedError,
  });
  t.throws(() => nodeHash(new Uint8Array(32), new Uint8Array(64)), { instanceOf: MalformedError });
});

test('generation refuses leaves outside the tree and old sizes above the new size', (t) => {
  t.throws(() => inclusionProofIds(5, 5), { instanceOf: OutOfRangeError });
  t.throws(() => inclusionProofIds(0, 0), { instanceOf: OutOfRangeError });
  t.throws(() => consistencyProofIds(6, 5), { instanceOf: OutOfRangeError });
  t.throws(() => tree.inclusionProof(0, tree.size + 1), { instanceOf: OutOfRangeError });
  t.throws(() => inclusionProofFromHashes(8, 3, []), { instanceOf: MalformedError });
  const ids = inclusionProofIds(8, 3);
  t.throws(() => inclusionProofFromHashes(8, 3, [...tree.readHashes(ids), leaves[0]!]), {
    instanceOf: MalformedError,
  });
});

test('leafHash matches the Go tlog record hash of "hello world" and SHA-256(0x00 || data) at every length', (t) => {
  // golang.org/x/mod/sumdb/tlog TestFormatTree: RecordHash("hello world").
  t.is(
    Buffer.from(leafHash(Buffer.from('hello world'))).toString('base64'),
    'TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=',
  );
  // Short entries go through a reused scratch buffer, long ones through a streaming hash: check both sides.
  for (const len of [0, 1, 200, 4094, 4095, 4096, 70_000]) {
    const data = Uint8Array.from({ length: len }, (_, i) => (i * 31 + len) % 256);
    const want = createHash('sha256').update(Uint8Array.of(0)).update(data).digest('hex');
    t.is(hex(leafHash(data)), want, `length ${len}`);
  }
});
