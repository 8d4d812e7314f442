import { appendFile, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { StoreCorruptError } from '../node/errors.ts';
import {
  type JournalRecord,
  MAX_JOURNAL_PAYLOAD,
  SubmissionJournal,
} from '../node/own-log/submission-journal.ts';
import { tempDir } from './helpers/log-fixture.ts';

const payload = (i: number) => Buffer.from(`e record ${i} `.repeat(1 + (i % 7)), 'latin1');

async function reopen(dir: string, doneBefore = 0, segmentBytes?: number) {
  const records: JournalRecord[] = [];
  const payloads: string[] = [];
  const journal = await SubmissionJournal.open(dir, doneBefore, { segmentBytes }, (record, p) => {
    records.push(record);
    payloads.push(p.toString('latin1'));
  });
  return { journal, records, payloads };
}

test('appends survive a reopen in order, each readable back', async (t) => {
  const dir = await tempDir('trustix-journal-');
  const { journal } = await reopen(dir);
  const records = await Promise.all(Array.from({ length: 50 }, (_, i) => journal.append(i, payload(i))));
  t.deepEqual(
    records.map((r) => r.seq),
    Array.from({ length: 50 }, (_, i) => i),
  );
  t.deepEqual(await journal.read(records[17]!), payload(17));
  await journal.close();

  const again = await reopen(dir);
  t.deepEqual(
    again.records.map((r) => r.seq),
    records.map((r) => r.seq),
  );
  t.deepEqual(
    again.payloads,
    records.map((_, i) => payload(i).toString('latin1')),
  );
  t.is(again.journal.nextSeq(), 50);
  await again.journal.close();
});

test('a torn append at the end (never acknowledged) is cut off on open; appends continue after it', async (t) => {
  const dir = await tempDir('trustix-journal-');
  const { journal } = await reopen(dir);
  for (let i = 0; i < 3; i++) await journal.append(i, payload(i));
  await journal.close();
  const [segment] = await readdir(dir);
  const file = join(dir, segment!);
  const good = (await stat(file)).size;
  // A header promising 1000 bytes followed by only some of them: a crash in the middle of a write.
  const torn = Buffer.alloc(16 + 10);
  torn.writeUInt32BE(1000, 0);
  torn.writeBigUInt64BE(3n, 4);
  await appendFile(file, torn);

  const again = await reopen(dir);
  t.deepEqual(
    again.records.map((r) => r.seq),
    [0, 1, 2],
  );
  t.is((await stat(file)).size, good);
  await again.journal.append(3, payload(3));
  await again.journal.close();
  t.deepEqual(
    (await reopen(dir)).records.map((r) => r.seq),
    [0, 1, 2, 3],
  );
});

test('a record whose checksum fails at the tail is cut; damage in an earlier segment refuses the open', async (t) => {
  const dir = await tempDir('trustix-journal-');
  const { journal } = await reopen(dir, 0, 64);
  for (let i = 0; i < 6; i++) await journal.append(i, payload(i));
  await journal.close();
  const segments = (await readdir(dir)).sort();
  t.true(segments.length >= 3, 'small segments: one record each');

  // Flip a payload byte of the last record: its checksum fails, and as the tail it is cut.
  const last = join(dir, segments.at(-1)!);
  const bytes = await readFile(last);
  bytes[bytes.length - 1]! ^= 0xff;
  await writeFile(last, bytes);
  const again = await reopen(dir, 0, 64);
  t.deepEqual(
    again.records.map((r) => r.seq),
    [0, 1, 2, 3, 4],
  );
  await again.journal.close();

  // The same damage in a segment followed by others is not a torn append: refused, nothing cut.
  const first = join(dir, segments[0]!);
  const firstBytes = await readFile(first);
  firstBytes[20]! ^= 0xff;
  await writeFile(first, firstBytes);
  await t.throwsAsync(reopen(dir, 0, 64), { instanceOf: StoreCorruptError, message: /damaged at byte 0/ });
  t.is((await stat(first)).size, firstBytes.length);
});

test('segments whose records are all done are deleted, the newest too once idle; appends go on in a new one', async (t) => {
  const dir = await tempDir('trustix-journal-');
  const { journal } = await reopen(dir, 0, 64);
  for (let i = 0; i < 6; i++) await journal.append(i, payload(i));
  const before = (await readdir(dir)).length;
  await journal.release(4);
  const after = (await readdir(dir)).length;
  t.true(after < before && after > 0);
  await journal.release(6);
  t.deepEqual(await readdir(dir), [], 'everything done: no disk space left in use');
  await journal.append(6, payload(6));
  t.deepEqual(await readdir(dir), ['0000000000000006.journal']);
  await journal.close();
  const again = await reopen(dir, 6, 64);
  t.deepEqual(
    again.records.map((r) => r.seq),
    [6],
  );
  t.is(again.journal.nextSeq(), 7);
  await again.journal.close();
});

test('the newest segment is kept while an append to it is under way', async (t) => {
  const dir = await tempDir('trustix-journal-');
  const { journal } = await reopen(dir);
  await journal.append(0, payload(0));
  const appending = journal.append(1, payload(1));
  await journal.release(1);
  await appending;
  await journal.close();
  t.deepEqual(
    (await reopen(dir)).records.map((r) => r.seq),
    [0, 1],
  );
});

test('appends must have increasing sequence numbers and bounded size; a refused one leaves the journal usable', async (t) => {
  const dir = await tempDir('trustix-journal-');
  const { journal } = await reopen(dir);
  await journal.append(5, payload(5));
  await t.throwsAsync(journal.append(5, payload(5)), { instanceOf: RangeError });
  await t.throwsAsync(journal.append(6, Buffer.alloc(MAX_JOURNAL_PAYLOAD + 1)), { instanceOf: RangeError });
  await journal.append(6, payload(6));
  await journal.close();
  await t.throwsAsync(journal.append(7, payload(7)), { message: /closed/ });
  t.deepEqual(
    (await reopen(dir)).records.map((r) => r.seq),
    [5, 6],
  );
});

test('the journal files are private to the node (0600 in a 0700 directory)', async (t) => {
  const dir = join(await tempDir('trustix-journal-'), 'queue');
  const { journal } = await reopen(dir);
  await journal.append(0, payload(0));
  await journal.close();
  t.is((await stat(dir)).mode & 0o777, 0o700);
  const [segment] = await readdir(dir);
  const handle = await open(join(dir, segment!), 'r');
  t.is((await handle.stat()).mode & 0o777, 0o600);
  await handle.close();
});
