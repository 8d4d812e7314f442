import { join } from 'node:path';
import test from 'ava';
import { StoreCorruptError, StoreLockedError } from '../node/errors.ts';
import { openDatabase } from '../node/store/database.ts';
import { LogStore } from '../node/store/log-store.ts';
import { openCheckpoint, type SignedCheckpoint } from '../protocol/checkpoint.ts';
import { verifyConsistency } from '../protocol/consistency-proof.ts';
import { decodeEntryBundle } from '../protocol/entry-bundle.ts';
import { OutOfRangeError } from '../protocol/errors.ts';
import { proveInclusion, verifyInclusion } from '../protocol/inclusion-proof.ts';
import { leafHash, rootFromLeafHashes } from '../protocol/merkle.ts';
import { tileHashReader } from '../protocol/tile-hash-reader.ts';
import { treeTiles } from '../protocol/tiles.ts';
import { openLogFixture } from './helpers/log-fixture.ts';
import { prng, syntheticEntries } from './helpers/synthetic-entries.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

test('100k entries in uneven batches: reopen, root, every tile, inclusion and consistency proofs verify', async (t) => {
  const entries = [...syntheticEntries(100_000, 7)];
  const log = await openLogFixture();
  const checkpoints: SignedCheckpoint[] = [];
  log.sequencer.addEventListener('checkpoint', (e) => checkpoints.push(e.detail));
  const rand = prng(3);
  for (let pos = 0; pos < entries.length; ) {
    const n = Math.min(entries.length - pos, 1 + Math.floor(rand() * 9000));
    await log.append(entries.slice(pos, pos + n));
    pos += n;
  }
  t.is(log.store.size, 100_000);
  await log.close();

  const reopened = await openLogFixture({ dir: log.dir, secret: log.secret });
  t.teardown(() => reopened.destroy());
  const { store } = reopened;
  t.is(store.size, 100_000);
  const root = rootFromLeafHashes(entries.map((e) => leafHash(encoder.encode(e))));
  t.deepEqual(Buffer.from(store.root), Buffer.from(root));

  // An outside verifier holding only the tiles accepts them against the signed checkpoint.
  const cp = store.checkpoint()!;
  t.notThrows(() => openCheckpoint(cp.note, log.key.verifier));
  const reader = tileHashReader(cp.size, cp.root, {
    readTiles: (tiles) => Promise.all(tiles.map(async (tile) => (await store.readTile(tile))!)),
  });
  for (const index of [0, 1, 255, 256, 65_535, 65_536, 99_999, Math.floor(rand() * 100_000)]) {
    const proof = await store.inclusionProof(index);
    const hex = (p: Uint8Array[]) => p.map((h) => Buffer.from(h).toString('hex'));
    t.deepEqual(hex(await proveInclusion(cp.size, index, reader)), hex(proof));
    t.notThrows(() =>
      verifyInclusion(index, cp.size, leafHash(encoder.encode(entries[index]!)), proof, cp.root),
    );
    t.is(decoder.decode((await store.entry(index))!), entries[index]!);
  }
  t.is(treeTiles(cp.size).length, 391 + 1 + 1 + 1);
  for (const tile of treeTiles(cp.size)) t.truthy(await store.readTile(tile));

  // Consistency between every pair of a sample of the checkpoints signed along the way.
  const sample = checkpoints.filter((_, i) => i % 5 === 0);
  for (let i = 1; i < sample.length; i++) {
    const a = sample[i - 1]!;
    const b = sample[i]!;
    const proof = await store.consistencyProof(a.size, b.size);
    t.notThrows(() => verifyConsistency(a.size, b.size, a.root, b.root, proof));
  }
});

test('entries by store path: duplicates are skipped, a different fingerprint for a path is appended', async (t) => {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  const [a, b] = [...syntheticEntries(2, 11)];
  const path = a!.split(';')[1]!;
  const rebuilt = a!.replace(/;sha256:[0-9a-z]{52};/, `;sha256:${'0'.repeat(52)};`);
  await log.append([a!, b!, a!]);
  t.is(log.store.size, 2);
  await log.append([a!, rebuilt]);
  t.is(log.store.size, 3);
  const hashPart = path.slice('/nix/store/'.length, '/nix/store/'.length + 32);
  const found = await log.store.entriesForPath(hashPart);
  t.deepEqual(
    found.map((f) => [f.index, decoder.decode(f.entry)]),
    [
      [0, a],
      [2, rebuilt],
    ],
  );
  t.deepEqual(await log.store.entriesForPath('0'.repeat(32)), []);
});

test('tiles: partial widths are served as prefixes, widths beyond the tree are not', async (t) => {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  const entries = [...syntheticEntries(300, 5)];
  await log.append(entries.slice(0, 100));
  await log.append(entries.slice(100));
  const full = await log.store.readTile({ kind: 'entries', index: 0, width: 256 });
  t.deepEqual(
    decodeEntryBundle(full!, 256).map((e) => decoder.decode(e)),
    entries.slice(0, 256),
  );
  const prefix = await log.store.readTile({ kind: 'entries', index: 0, width: 100 });
  t.is(decodeEntryBundle(prefix!, 100).length, 100);
  t.is(await log.store.readTile({ kind: 'entries', index: 1, width: 45 }), undefined);
  t.truthy(await log.store.readTile({ kind: 'entries', index: 1, width: 44 }));
  t.is(await log.store.readTile({ kind: 'hash', level: 0, index: 2, width: 1 }), undefined);
  t.is(await log.store.readTile({ kind: 'hash', level: 1, index: 0, width: 2 }), undefined);
  t.is((await log.store.readTile({ kind: 'hash', level: 1, index: 0, width: 1 }))!.length, 32);
  await t.throwsAsync(log.store.inclusionProof(300), { instanceOf: OutOfRangeError });
  await t.throwsAsync(log.store.consistencyProof(1, 301), { instanceOf: OutOfRangeError });
});

test('a new log gets a signed empty checkpoint at once', async (t) => {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  const cp = log.store.checkpoint()!;
  t.is(cp.size, 0);
  t.is(cp.origin, 'test-log-1');
  t.notThrows(() => openCheckpoint(cp.note, log.key.verifier));
});

test('a store held by another opener is refused with StoreLockedError', async (t) => {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  await t.throwsAsync(openDatabase(join(log.dir, 'db')), { instanceOf: StoreLockedError });
});

test('a stored tile that no longer hashes to the checkpoint makes open fail with StoreCorruptError', async (t) => {
  const log = await openLogFixture();
  await log.append([...syntheticEntries(10, 2)]);
  const key = log.store.tileOp({
    tile: { kind: 'hash', level: 0, index: 0, width: 10 },
    data: new Uint8Array(320),
  });
  await log.close();
  const db = await openDatabase(join(log.dir, 'db'));
  t.teardown(() => db.close());
  const good = await db.get(key.key);
  t.is(good?.length, 320);
  const bad = Uint8Array.from(good!);
  bad[5]! ^= 1;
  await db.put(key.key, bad);
  await t.throwsAsync(LogStore.open(db, log.key), { instanceOf: StoreCorruptError });
});
