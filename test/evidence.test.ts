import test from 'ava';
import fc from 'fast-check';
import { signCheckpoint } from '../protocol/checkpoint.ts';
import { MAX_EVIDENCE_BYTES } from '../protocol/constants.ts';
import { MalformedError, TooLargeError, VerificationError } from '../protocol/errors.ts';
import {
  buildEvidence,
  evidenceProofFromHashes,
  evidenceProofIds,
  verifyEvidence,
} from '../protocol/evidence.ts';
import { generateNixSecretKey, logKeyOf, logSigner, nixSecretKeyFromSeed } from '../protocol/keys.ts';
import { MemoryTree } from '../protocol/memory-tree.ts';
import { type Hash, leafHash } from '../protocol/merkle.ts';

const secret = nixSecretKeyFromSeed('fork-log-1', new Uint8Array(32).fill(7));
const log = logKeyOf(secret);
const signer = logSigner(secret);
const encoder = new TextEncoder();

const leaves = (prefix: string, n: number): Hash[] =>
  Array.from({ length: n }, (_, i) => leafHash(encoder.encode(`${prefix}-${i}`)));

function checkpointOf(tree: MemoryTree, size: number, s = signer): Uint8Array {
  return signCheckpoint({ origin: s.name, size, root: tree.root(size), extensions: [] }, s);
}

/** Tree B agrees with A before `forkAt` and differs from there on. */
function forkedTrees(m: number, n: number, forkAt: number): { a: MemoryTree; b: MemoryTree } {
  const honest = leaves('honest', n);
  const a = MemoryTree.fromLeafHashes(honest.slice(0, m));
  const b = MemoryTree.fromLeafHashes([...honest.slice(0, forkAt), ...leaves('forged', n - forkAt)]);
  return { a, b };
}

function evidenceFor(m: number, n: number, forkAt: number): Uint8Array {
  const { a, b } = forkedTrees(m, n, forkAt);
  const proof = evidenceProofFromHashes(m, n, b.readHashes(evidenceProofIds(m, n)));
  return buildEvidence(log.vkey, checkpointOf(a, m), checkpointOf(b, n), proof).bytes;
}

test('same size, different roots: evidence verifies with only the bytes, and names the log', (t) => {
  const { a, b } = forkedTrees(10, 10, 3);
  const ev = buildEvidence(log.vkey, checkpointOf(a, 10), checkpointOf(b, 10), []);
  const again = verifyEvidence(ev.bytes, log.verifier);
  t.is(again.vkey, log.vkey);
  t.is(again.a.size, 10);
  t.deepEqual(Buffer.from(again.bytes), Buffer.from(ev.bytes));
  // Argument order does not matter: one fork, one document.
  const swapped = buildEvidence(log.vkey, checkpointOf(b, 10), checkpointOf(a, 10), []);
  t.deepEqual(Buffer.from(swapped.bytes), Buffer.from(ev.bytes));
});

for (const [m, n, fork] of [
  [5, 9, 2],
  [4, 9, 0],
  [1, 2, 0],
  [8, 8 + 256, 7],
  [300, 1000, 299],
] as const) {
  test(`sizes ${m} < ${n}, forked at leaf ${fork}: evidence verifies`, (t) => {
    const ev = verifyEvidence(evidenceFor(m, n, fork));
    t.is(ev.a.size, m);
    t.is(ev.b.size, n);
  });
}

test('an honest extension is not evidence', (t) => {
  const { b } = forkedTrees(6, 20, 20);
  const proof = evidenceProofFromHashes(6, 20, b.readHashes(evidenceProofIds(6, 20)));
  t.throws(() => buildEvidence(log.vkey, checkpointOf(b, 6), checkpointOf(b, 20), proof), {
    instanceOf: VerificationError,
  });
  t.throws(() => buildEvidence(log.vkey, checkpointOf(b, 6), checkpointOf(b, 6), []), {
    instanceOf: VerificationError,
  });
});

test('property: any fork point gives verifying evidence; any flipped proof bit breaks it', (t) => {
  fc.assert(
    fc.property(
      fc
        .integer({ min: 1, max: 200 })
        .chain((m) =>
          fc.tuple(
            fc.constant(m),
            fc.integer({ min: m + 1, max: 300 }),
            fc.integer({ min: 0, max: m - 1 }),
            fc.nat(),
          ),
        ),
      ([m, n, fork, bit]) => {
        const { a, b } = forkedTrees(m, n, fork);
        const proof = evidenceProofFromHashes(m, n, b.readHashes(evidenceProofIds(m, n)));
        verifyEvidence(buildEvidence(log.vkey, checkpointOf(a, m), checkpointOf(b, n), proof).bytes);
        const bad = proof.map((h) => Uint8Array.from(h));
        const i = bit % (bad.length * 256);
        bad[Math.floor(i / 256)]![Math.floor((i % 256) / 8)]! ^= 1 << (i % 8);
        try {
          buildEvidence(log.vkey, checkpointOf(a, m), checkpointOf(b, n), bad);
          return false;
        } catch (err) {
          return err instanceof VerificationError;
        }
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});

test('a checkpoint signed by another key is refused', (t) => {
  const other = logSigner(generateNixSecretKey('fork-log-1'));
  const { a, b } = forkedTrees(4, 4, 1);
  t.throws(() => buildEvidence(log.vkey, checkpointOf(a, 4), checkpointOf(b, 4, other), []), {
    instanceOf: VerificationError,
  });
});

test('malformed documents give MalformedError or TooLargeError', (t) => {
  const good = Buffer.from(evidenceFor(5, 9, 2));
  const text = good.toString('latin1');
  const cases: [string, Buffer][] = [
    ['wrong magic', Buffer.from(text.replace('trustix-evidence/v1', 'trustix-evidence/v2'), 'latin1')],
    ['trailing data', Buffer.concat([good, Buffer.from('x')])],
    ['truncated', good.subarray(0, good.length - 3)],
    ['leading zero in a count', Buffer.from(text.replace(/^proof (\d+)$/m, 'proof 0$1'), 'latin1')],
    ['proof count too high', Buffer.from(text.replace(/^proof (\d+)$/m, 'proof 9'), 'latin1')],
    [
      'note length off by one',
      Buffer.from(
        text.replace(/^note (\d+)$/m, (_, n) => `note ${Number(n) + 1}`),
        'latin1',
      ),
    ],
    ['notes out of order', swapNotes(good)],
  ];
  for (const [name, bytes] of cases) {
    t.throws(() => verifyEvidence(bytes), { instanceOf: MalformedError }, name);
  }
  t.throws(() => verifyEvidence(new Uint8Array(MAX_EVIDENCE_BYTES + 1)), { instanceOf: TooLargeError });
  t.throws(() => verifyEvidence(good, logKeyOf(generateNixSecretKey('x')).verifier), {
    instanceOf: VerificationError,
  });
});

function swapNotes(doc: Buffer): Buffer {
  const lines = doc.toString('latin1');
  const first = /^note (\d+)\n/m.exec(lines)!;
  const aStart = first.index + first[0].length;
  const aEnd = aStart + Number(first[1]);
  const second = /^note (\d+)\n/m.exec(lines.slice(aEnd))!;
  const bStart = aEnd + second[0].length;
  const bEnd = bStart + Number(second[1]);
  return Buffer.concat([
    doc.subarray(0, first.index),
    Buffer.from(`note ${second[1]}\n`),
    doc.subarray(bStart, bEnd),
    Buffer.from(`note ${first[1]}\n`),
    doc.subarray(aStart, aEnd),
    doc.subarray(bEnd),
  ]);
}
