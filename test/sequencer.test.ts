import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { Sequencer } from '../node/own-log/sequencer.ts';
import type { ResolveOutcome } from '../node/own-log/sequencer-batch.ts';
import type { Rejection } from '../node/own-log/sequencer-refusals.ts';
import { type Submission, SubmissionQueue } from '../node/own-log/submission-queue.ts';
import { openDatabase } from '../node/store/database.ts';
import { LogStore } from '../node/store/log-store.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import { generateNixSecretKey, logKeyOf, logSigner } from '../protocol/keys.ts';
import { openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

const [e1, e2, e3] = [...syntheticEntries(3, 21)] as [string, string, string];
const pathOf = (e: string) => e.split(';')[1]!;

test('a refused submission is dropped and reported; the rest of its batch is appended', async (t) => {
  const log = await openLogFixture({
    resolve: async (subs: readonly Submission[]) =>
      subs.map((s): ResolveOutcome => {
        if (s.kind === 'path' && s.path === pathOf(e1)) return { ok: true, entries: [e1] };
        return { ok: false, error: new Error('not a valid path'), retry: false };
      }),
  });
  t.teardown(() => log.destroy());
  const rejected: Rejection[] = [];
  log.sequencer.addEventListener('rejected', (e) => rejected.push(e.detail));
  await log.queue.enqueue([
    { kind: 'path', path: pathOf(e1) },
    { kind: 'path', path: pathOf(e2) },
    { kind: 'entry', entry: e3 },
  ]);
  await log.sequencer.flushed();
  t.is(log.store.size, 2);
  t.is(rejected.length, 1);
  t.deepEqual(rejected[0]!.submission, { kind: 'path', path: pathOf(e2) });
  t.deepEqual(await log.queue.pending(0, 10), []);
});

test('a submission failing for a passing reason stays queued and is appended once it resolves', async (t) => {
  let calls = 0;
  const log = await openLogFixture({
    init: { maxRetryDelayMs: 50 },
    resolve: async (subs: readonly Submission[]) => {
      calls++;
      return subs.map(
        (): ResolveOutcome =>
          calls < 3
            ? { ok: false, error: new Error('nix-store timed out'), retry: true }
            : { ok: true, entries: [e1] },
      );
    },
  });
  t.teardown(() => log.destroy());
  await log.queue.enqueue([
    { kind: 'path', path: pathOf(e1) },
    { kind: 'entry', entry: e2 },
  ]);
  await log.sequencer.flushed();
  t.true(calls >= 3);
  t.is(log.store.size, 2);
  // The ready entry was not held back by the retried one.
  t.is(new TextDecoder().decode((await log.store.entry(0))!), e2);
  t.is(new TextDecoder().decode((await log.store.entry(1))!), e1);
  t.deepEqual(await log.queue.pending(0, 10), []);
});

test('batches prepared while the one before is still being written dedupe against it', async (t) => {
  const log = await openLogFixture({ init: { maxBatchSubmissions: 2 } });
  t.teardown(() => log.destroy());
  const [a, b, c, d] = [...syntheticEntries(4, 23)] as [string, string, string, string];
  // Another fingerprint for b's path: a rebuild, which the log records.
  const rebuilt = b.replace(/sha256:[0-9a-z]{52}/, `sha256:${'1'.repeat(52)}`);
  t.not(rebuilt, b);
  // Queued before the sequencer looks: one record per request, two per batch, so the batches follow
  // each other while the previous write is in flight.
  await Promise.all([
    log.queue.enqueue([{ kind: 'entry', entry: a }]),
    log.queue.enqueue([{ kind: 'entry', entry: b }]),
    log.queue.enqueue([{ kind: 'entry', entry: a }]),
    log.queue.enqueue([{ kind: 'entry', entry: c }]),
    log.queue.enqueue([{ kind: 'entry', entry: rebuilt }]),
    log.queue.enqueue([{ kind: 'entry', entry: b }]),
    log.queue.enqueue([{ kind: 'entry', entry: d }]),
    log.queue.enqueue([{ kind: 'entry', entry: c }]),
  ]);
  await log.sequencer.flushed();
  const stored = await Promise.all(
    Array.from({ length: log.store.size }, async (_, i) =>
      new TextDecoder().decode((await log.store.entry(i))!),
    ),
  );
  t.deepEqual(stored, [a, b, c, rebuilt, d]);
  const hashPart = pathOf(b).slice('/nix/store/'.length, '/nix/store/'.length + 32);
  t.deepEqual(await log.store.indicesForPath(hashPart), [1, 3]);
  t.like(await verifyLog(log.store), { size: 5 });
});

test('a failed write drops what was prepared on top of it; sequencing resumes from the stored state', async (t) => {
  const dir = await tempDir();
  const secret = generateNixSecretKey('test-log-1');
  const db = await openDatabase(join(dir, 'db'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = await LogStore.open(db, logKeyOf(secret));
  const queue = await SubmissionQueue.open(db);
  let writes = 0;
  // The third batch write fails once (a full disk, say); the batch prepared on top of it must not land.
  const failing = new Proxy(db, {
    get(target, prop) {
      if (prop === 'batch')
        return () => {
          const batch = target.batch();
          const write = batch.write.bind(batch);
          return Object.assign(batch, {
            write: async (options: { sync?: boolean } = {}) => {
              if (++writes === 3) {
                await batch.close();
                throw new Error('no space left on device');
              }
              return write(options);
            },
          });
        };
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const entries = [...syntheticEntries(12, 29)];
  for (const e of entries) await queue.enqueue([{ kind: 'entry', entry: e }]);
  const sequencer = new Sequencer(
    { db: failing, store, queue, signer: logSigner(secret), resolve: async () => [] },
    { intervalMs: 0, maxBatchSubmissions: 2 },
  );
  await sequencer.start();
  await sequencer.flushed();
  await sequencer.stop();
  t.true(writes > 3);
  t.is(store.size, 12);
  const stored = await Promise.all(
    entries.map(async (_, i) => new TextDecoder().decode((await store.entry(i))!)),
  );
  t.deepEqual(stored, entries);
  await db.close();
  const reopened = await openDatabase(join(dir, 'db'));
  const again = await LogStore.open(reopened, logKeyOf(secret));
  t.like(await verifyLog(again), { size: 12 });
  await reopened.close();
});
