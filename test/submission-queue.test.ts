import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { type Submission, SubmissionQueue } from '../node/own-log/submission-queue.ts';
import { openDatabase, writeBatch } from '../node/store/database.ts';
import { QUEUE_DONE_KEY, queueKey } from '../node/store/layout.ts';
import { openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

const entries = [...syntheticEntries(40, 77)];
const entry = (i: number): Submission => ({ kind: 'entry', entry: entries[i]! });

test('records round-trip with their kinds; pending merges held-back and journal records in order, up to the cap', async (t) => {
  const dir = await tempDir();
  const db = await openDatabase(join(dir, 'db'));
  // Held back in LevelDB (as a retry, or by an older version): plain lines under queue!<seq>.
  await writeBatch(db, [
    { type: 'put', key: queueKey(1), value: Buffer.from(`p /nix/store/${'a'.repeat(32)}-x`) },
  ]);
  const queue = await SubmissionQueue.open(db);
  t.is(queue.lastSeq(), 1, 'sequence numbers continue after the held-back records');
  const drv = `/nix/store/${'b'.repeat(32)}-y.drv`;
  await queue.enqueue([entry(0), { kind: 'drv', drvPath: drv }]);
  await queue.enqueue([entry(1), entry(2), entry(3)]);
  await queue.enqueue([entry(4)]);

  const all = await queue.pending(0, 100);
  t.deepEqual(
    all.map((r) => [r.seq, r.inJournal, r.count]),
    [
      [1, false, 1],
      [2, true, 2],
      [3, true, 3],
      [4, true, 1],
    ],
  );
  t.deepEqual(all[1]!.submissions, [entry(0), { kind: 'drv', drvPath: drv }]);
  t.deepEqual(
    (await queue.pending(2, 4)).map((r) => r.seq),
    [2],
    'the next record would pass the cap',
  );
  t.deepEqual(
    (await queue.pending(4, 1)).map((r) => r.seq),
    [4],
  );
  t.deepEqual(
    (await queue.pending(0, 0)).map((r) => r.seq),
    [1],
    'at least one record, however large',
  );
  t.is(await queue.size(), 7);
  await db.close();
});

test('a newline inside a submission is refused before anything is written', async (t) => {
  const dir = await tempDir();
  const db = await openDatabase(join(dir, 'db'));
  const queue = await SubmissionQueue.open(db);
  await t.throwsAsync(queue.enqueue([{ kind: 'path', path: '/nix/store/x\ne 1;forged' }]), {
    instanceOf: RangeError,
  });
  t.deepEqual(await queue.pending(0, 10), []);
  t.is(queue.lastSeq(), -1);
  await db.close();
});

test('sequenced records stay done after a reopen; done journal segments are deleted', async (t) => {
  const log = await openLogFixture();
  for (let i = 0; i < 10; i++) await log.append([entries[i]!]);
  t.is(log.store.size, 10);
  t.deepEqual(await log.queue.pending(0, 100), []);
  t.truthy(await log.db.get(QUEUE_DONE_KEY));
  await log.close();

  const db = await openDatabase(join(log.dir, 'db'));
  const queue = await SubmissionQueue.open(db);
  t.deepEqual(await queue.pending(0, 100), []);
  t.is(queue.lastSeq(), 9);
  t.true((await readdir(join(log.dir, 'queue'))).length <= 1);
  await db.close();
});

test('records queued by an older version (in LevelDB) are sequenced after an upgrade', async (t) => {
  const dir = await tempDir();
  const db = await openDatabase(join(dir, 'db'));
  await writeBatch(db, [
    { type: 'put', key: queueKey(0), value: Buffer.from(`e ${entries[20]}\ne ${entries[21]}`) },
    { type: 'put', key: queueKey(1), value: Buffer.from(`e ${entries[22]}`) },
  ]);
  await db.close();
  const log = await openLogFixture({ dir });
  t.teardown(() => log.destroy());
  await log.append([entries[23]!]);
  t.is(log.store.size, 4);
  const stored = await Promise.all(
    [0, 1, 2, 3].map(async (i) => Buffer.from((await log.store.entry(i))!).toString()),
  );
  t.deepEqual(stored, [entries[20], entries[21], entries[22], entries[23]]);
  t.deepEqual(await log.queue.pending(0, 100), []);
});
