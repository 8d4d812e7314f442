/**
 * `npm run bench -- protocol`: the pure protocol layer. Hashing, proofs, NAR serialization, checkpoints.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { narTreeOf } from '../node/index.ts';
import {
  type Hash,
  leafHash,
  logKeyOf,
  logSigner,
  MemoryTree,
  memoryDirectory,
  memoryFile,
  type NarNode,
  narHash,
  nixSecretKeyFromSeed,
  nodeHash,
  openCheckpoint,
  rootFromLeafHashes,
  signBytes,
  signCheckpoint,
  signingKeyFromSeed,
  verifyBytes,
  verifyConsistency,
  verifyInclusion,
  verifyingKey,
} from '../protocol/index.ts';
import { prng, syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { latency, type Measurement, rate, suiteResult } from './harness.ts';

const MB = 1024 * 1024;

export async function run() {
  const m: Measurement[] = [];
  // Baselines measured in the same run, so figures on a shared, noisy machine can be read as ratios.
  const block = new Uint8Array(MB).fill(7);
  m.push(
    await rate(
      'baseline: raw SHA-256 of 1 MiB blocks (node:crypto)',
      256,
      () => {
        for (let i = 0; i < 256; i++) createHash('sha256').update(block).digest();
      },
      { unit: 'MiB/s', runs: 3 },
    ),
  );
  const pair = new Uint8Array(64).fill(1);
  m.push(
    await rate('baseline: node hash SHA-256(0x01||l||r)', 200_000, () => {
      for (let i = 0; i < 200_000; i++) nodeHash(pair.subarray(0, 32), pair.subarray(32));
    }),
  );
  const baseKey = signingKeyFromSeed(new Uint8Array(32).fill(3));
  const baseSig = signBytes(baseKey, block.subarray(0, 100));
  const baseVerifier = verifyingKey(baseKey.publicKey);
  m.push(
    await rate('baseline: raw Ed25519 verify (node:crypto)', 5000, () => {
      for (let i = 0; i < 5000; i++) verifyBytes(baseVerifier, block.subarray(0, 100), baseSig);
    }),
  );
  const encoder = new TextEncoder();
  const entries = [...syntheticEntries(100_000, 1)].map((e) => encoder.encode(e));
  m.push(
    await rate('leafHash (synthetic entries, ~700 B)', entries.length, () => {
      for (const e of entries) leafHash(e);
    }),
  );

  const million = Array.from({ length: 1 << 20 }, (_, i) => leafHash(encoder.encode(`leaf ${i}`)));
  m.push(
    await rate('root of 2^20 leaves', 1 << 20, () => rootFromLeafHashes(million), {
      runs: 3,
      unit: 'leaves/s',
    }),
  );

  const tree = MemoryTree.fromLeafHashes(million);
  const size = tree.size;
  const root = tree.root();
  const rand = prng(42);
  const indices = Array.from({ length: 20_000 }, () => Math.floor(rand() * size));
  m.push(
    await rate('inclusion proof generation at 2^20', indices.length, () => {
      for (const i of indices) tree.inclusionProof(i);
    }),
  );
  const proofs = indices.map((i) => tree.inclusionProof(i));
  m.push(
    await rate(
      'inclusion proof verification at 2^20',
      indices.length,
      () => {
        indices.forEach((i, k) => {
          verifyInclusion(i, size, million[i]!, proofs[k]!, root);
        });
      },
      { target: '>= 20,000/s' },
    ),
  );
  const olds = indices.slice(0, 5000).map((i) => Math.max(1, i));
  const cproofs = olds.map((o) => tree.consistencyProof(o));
  const oldRoots = olds.map((o) => tree.root(o));
  m.push(
    await rate('consistency proof verification at 2^20', olds.length, () => {
      olds.forEach((o, k) => {
        verifyConsistency(o, size, oldRoots[k]!, root, cproofs[k]!);
      });
    }),
  );

  const big = new Uint8Array(256 * MB);
  for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
  m.push(
    await rate(
      'NAR hash, one 256 MiB file (in memory)',
      256,
      () => narHash(memoryFile(big, { chunkSize: MB })),
      {
        unit: 'MiB/s',
        runs: 3,
        target: '>= 400 MiB/s',
      },
    ),
  );
  const dir = await mkdtemp(join(tmpdir(), 'trustix-bench-nar-'));
  try {
    await writeFile(join(dir, 'big'), big);
    m.push(
      await rate(
        'NAR hash, one 256 MiB file (on disk, nar-fs)',
        256,
        async () => narHash(await narTreeOf(join(dir, 'big'))),
        {
          unit: 'MiB/s',
          runs: 3,
        },
      ),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const { tree: manyFiles, bytes } = fileTree(20_000);
  m.push(
    await rate('NAR hash, 20,000-file tree (in memory)', bytes / MB, () => narHash(manyFiles), {
      unit: 'MiB/s',
      runs: 3,
      files: 20_000,
    }),
  );

  const secret = nixSecretKeyFromSeed('bench-log-1', new Uint8Array(32).fill(1));
  const signer = logSigner(secret);
  const verifier = logKeyOf(secret).verifier;
  const cp = { origin: 'bench-log-1', size: size, root: root as Hash, extensions: [] };
  m.push(
    await rate('checkpoint sign', 5000, () => {
      for (let i = 0; i < 5000; i++) signCheckpoint(cp, signer);
    }),
  );
  const note = signCheckpoint(cp, signer);
  m.push(
    await rate(
      'checkpoint verify (open + parse)',
      5000,
      () => {
        for (let i = 0; i < 5000; i++) openCheckpoint(note, verifier);
      },
      { target: '>= 5,000/s' },
    ),
  );
  m.push(await latency('checkpoint verify latency', () => openCheckpoint(note, verifier), { runs: 2000 }));
  return suiteResult('protocol', m);
}

/** 20,000 files of 1-8 KiB in 100 directories, some executable, plus symlinks. */
function fileTree(files: number): { tree: NarNode; bytes: number } {
  const rand = prng(9);
  let bytes = 0;
  const dirs: [string, NarNode][] = [];
  for (let d = 0; d < 100; d++) {
    const children: [string, NarNode][] = [];
    for (let f = 0; f < files / 100; f++) {
      const data = new Uint8Array(1024 + Math.floor(rand() * 7 * 1024)).fill(f % 256);
      bytes += data.length;
      children.push([`file-${f}`, memoryFile(data, { executable: f % 10 === 0 })]);
    }
    dirs.push([`dir-${d}`, memoryDirectory(children)]);
  }
  return { tree: memoryDirectory(dirs), bytes };
}
