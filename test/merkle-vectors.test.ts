// Third-party Merkle vectors: transparency-dev/merkle testdata and the CCTV merkle vectors
// (see ../shared/tlog-vectors/SOURCE.md). One ava test per vector file / vector.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ErrorConstructor } from 'ava';
import test from 'ava';
import { verifyConsistency } from '../protocol/consistency-proof.ts';
import { MalformedError, OutOfRangeError, type TrustixError, VerificationError } from '../protocol/errors.ts';
import { verifyInclusion } from '../protocol/inclusion-proof.ts';
import { MemoryTree } from '../protocol/memory-tree.ts';
import { type Hash, leafHash } from '../protocol/merkle.ts';
import { readSharedJson, requireShared } from './helpers/shared.ts';

const b64 = (s: string): Hash => new Uint8Array(Buffer.from(s, 'base64'));
const hex = (h: Uint8Array): string => Buffer.from(h).toString('hex');
type ErrorClass = ErrorConstructor<TrustixError>;

/**
 * The error class our verifiers must raise for a rejected input: sizes beyond safe integers (uint64
 * wrap-arounds in the Go vectors) are out of range, then bytes that are not 32-byte hashes are malformed,
 * and anything else is a proof that does not verify.
 */
function expectedError(numbers: readonly number[], hashes: readonly Hash[]): ErrorClass {
  if (numbers.some((n) => !Number.isSafeInteger(n) || n < 0)) return OutOfRangeError;
  return hashes.some((h) => h.length !== 32) ? MalformedError : VerificationError;
}

function jsonFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.json')).sort();
}

// ---------------------------------------------------------------- transparency-dev/merkle

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

// The RFC 6962 test tree the numbered folders are built on (SOURCE.md).
const RFC_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
];
const rfcTree = MemoryTree.fromLeafHashes(RFC_LEAVES.map((h) => leafHash(Buffer.from(h, 'hex'))));

const tdDir = requireShared(
  'tlog-vectors/transparency-dev-merkle/testdata',
  'transparency-dev Merkle vectors',
);
if (tdDir !== undefined) {
  for (const file of jsonFiles(join(tdDir, 'inclusion'))) {
    const v = readSharedJson<InclusionVector>(join(tdDir, 'inclusion', file));
    const proof = (v.proof ?? []).map(b64);
    const root = b64(v.root);
    const leaf = b64(v.leafHash);
    const numbered = /^[0-9]\//.test(file);
    test(`transparency-dev inclusion/${file} (${v.desc}): ${v.wantErr ? 'rejected' : 'verifies'}`, (t) => {
      const run = () => verifyInclusion(v.leafIdx, v.treeSize, leaf, proof, root);
      if (v.wantErr) {
        t.throws(run, { instanceOf: expectedError([v.leafIdx, v.treeSize], [root, leaf, ...proof]) });
        return;
      }
      t.notThrows(run);
      // Valid proofs over the RFC test tree must also be what we generate.
      if (numbered) t.deepEqual(rfcTree.inclusionProof(v.leafIdx, v.treeSize).map(hex), proof.map(hex));
    });
  }

  // Where our semantics and transparency-dev's part ways. They do not length-check roots when
  // size1 == size2 (we require 32-byte hashes everywhere), and they reject every size1 == 0 where we
  // accept (0, n, empty proof) with the empty-tree root as C2SP tlog-witness and CCTV do.
  const OURS: Record<string, { wantErr: boolean; why: string }> = {
    'additional/sizes-are-equal-one-and-proof-is-empty.json': {
      wantErr: true,
      why: 'rejected by us as malformed: its roots are 12-byte placeholders (transparency-dev accepts)',
    },
    'additional/size1-is-zero-and-size2-is-not-zero.json': {
      wantErr: true,
      why: 'rejected by us only because root2 is a 12-byte placeholder: (0, n, []) with the empty root is valid for us',
    },
    'additional/sizes-are-equal-zero-and-proof-is-empty.json': {
      wantErr: true,
      why: 'rejected by us only because the roots are 12-byte placeholders: (0, 0, []) with empty roots is valid for us',
    },
  };

  for (const file of jsonFiles(join(tdDir, 'consistency'))) {
    const v = readSharedJson<ConsistencyVector>(join(tdDir, 'consistency', file));
    const proof = (v.proof ?? []).map(b64);
    const root1 = b64(v.root1);
    const root2 = b64(v.root2);
    const ours = OURS[file];
    const wantErr = ours?.wantErr ?? v.wantErr;
    const title = ours
      ? `transparency-dev consistency/${file} (${v.desc}): ${ours.why}`
      : `transparency-dev consistency/${file} (${v.desc}): ${wantErr ? 'rejected' : 'verifies'}`;
    const numbered = /^[0-9]\//.test(file);
    test(title, (t) => {
      const run = () => verifyConsistency(v.size1, v.size2, root1, root2, proof);
      if (wantErr) {
        t.throws(run, { instanceOf: expectedError([v.size1, v.size2], [root1, root2, ...proof]) });
        return;
      }
      t.notThrows(run);
      if (numbered) t.deepEqual(rfcTree.consistencyProof(v.size1, v.size2).map(hex), proof.map(hex));
    });
  }
}

// ---------------------------------------------------------------- CCTV merkle

interface TreeVector {
  leaf_data: string;
  leaf_hash: string;
  root_hash: string;
}

interface CctvInclusion {
  leaf_hash: string;
  leaf_index: number;
  tree_size: number;
  root_hash: string;
  inclusion_path: string[];
  comment?: string;
}

interface CctvConsistency {
  old_size: number;
  new_size: number;
  old_root: string;
  new_root: string;
  consistency_path: string[];
  comment?: string;
}

const cctvDir = requireShared('tlog-vectors/cctv-merkle/testdata', 'CCTV Merkle vectors');
if (cctvDir !== undefined) {
  const leaves = readSharedJson<TreeVector[]>(join(cctvDir, 'merkle_tree.json'));
  const tree = MemoryTree.fromLeafHashes(leaves.map((l) => leafHash(Buffer.from(l.leaf_data, 'utf8'))));
  const name = (f: string) => relative(cctvDir, join(cctvDir, f));

  leaves.forEach((l, i) => {
    test(`CCTV merkle_tree.json #${i}: leaf "${l.leaf_data}" hash and root of size ${i + 1}`, (t) => {
      t.is(hex(leafHash(Buffer.from(l.leaf_data, 'utf8'))), hex(b64(l.leaf_hash)));
      t.is(hex(tree.root(i + 1)), hex(b64(l.root_hash)));
    });
  });

  readSharedJson<CctvInclusion[]>(join(cctvDir, 'inclusion-valid.json')).forEach((v, i) => {
    test(`CCTV ${name('inclusion-valid.json')} #${i} (leaf ${v.leaf_index} of ${v.tree_size}): generated and verifies`, (t) => {
      const proof = v.inclusion_path.map(b64);
      t.deepEqual(tree.inclusionProof(v.leaf_index, v.tree_size).map(hex), proof.map(hex));
      t.notThrows(() =>
        verifyInclusion(v.leaf_index, v.tree_size, b64(v.leaf_hash), proof, b64(v.root_hash)),
      );
    });
  });

  readSharedJson<CctvInclusion[]>(join(cctvDir, 'inclusion-invalid.json')).forEach((v, i) => {
    test(`CCTV inclusion-invalid.json #${i} (${v.comment}): rejected`, (t) => {
      const proof = v.inclusion_path.map(b64);
      t.throws(() => verifyInclusion(v.leaf_index, v.tree_size, b64(v.leaf_hash), proof, b64(v.root_hash)), {
        instanceOf: VerificationError,
      });
    });
  });

  readSharedJson<CctvConsistency[]>(join(cctvDir, 'consistency-valid.json')).forEach((v, i) => {
    test(`CCTV consistency-valid.json #${i} (${v.old_size} -> ${v.new_size}): generated and verifies`, (t) => {
      const proof = v.consistency_path.map(b64);
      t.deepEqual(tree.consistencyProof(v.old_size, v.new_size).map(hex), proof.map(hex));
      t.notThrows(() => verifyConsistency(v.old_size, v.new_size, b64(v.old_root), b64(v.new_root), proof));
    });
  });

  readSharedJson<CctvConsistency[]>(join(cctvDir, 'consistency-invalid.json')).forEach((v, i) => {
    test(`CCTV consistency-invalid.json #${i} (${v.old_size} -> ${v.new_size}, ${v.comment}): rejected`, (t) => {
      const proof = v.consistency_path.map(b64);
      t.throws(() => verifyConsistency(v.old_size, v.new_size, b64(v.old_root), b64(v.new_root), proof), {
        instanceOf: VerificationError,
      });
    });
  });
}
