/**
 * The durable queue of pending submissions. A request's submissions are acknowledged only once they
 * are synced to disk, as one record in the journal (node/own-log/submission-journal.ts). The sequencer takes
 * records in order and, in the same atomic LevelDB batch that appends their entries, moves the done
 * marker past them (meta!queue-done); submissions that must wait for a retry move into LevelDB records
 * in that batch. So a crash at any moment loses nothing and duplicates nothing; journal segments below
 * the marker are deleted afterwards. Stores written by older versions kept every record in LevelDB:
 * those are read as records held back, so nothing queued before an upgrade is lost.
 *
 * The record format is node/own-log/queued-record.ts.
 */
import { dirname, join } from 'node:path';
import { logger } from '@libp2p/logger';
import type { BatchOp, Database } from '../store/database.ts';
import {
  decodeQueueDone,
  encodeQueueDone,
  QUEUE_DONE_KEY,
  queueKey,
  queueRange,
  seqOfQueueKey,
} from '../store/layout.ts';
import { countLines, encodeRecord, QueuedRecord, type Submission } from './queued-record.ts';
import { type JournalInit, type JournalRecord, SubmissionJournal } from './submission-journal.ts';

export { QueuedRecord, type Submission } from './queued-record.ts';

const log = logger('trustix:submission-queue');

export interface SubmissionQueueInit extends JournalInit {
  /** Directory of the journal. Default: `queue` beside the LevelDB directory. */
  readonly dir?: string;
  /**
   * Bytes of queued records kept in memory as well as in the journal, so that the sequencer need not
   * read them back (fresh buffers cost page faults here). Default 64 MiB.
   */
  readonly cacheBytes?: number;
}

/** A journal record not done yet: where it is, how many submissions it holds, and maybe its bytes. */
interface PendingJournalRecord {
  readonly record: JournalRecord;
  readonly count: number;
  payload: Buffer | undefined;
}

export class SubmissionQueue {
  private readonly db: Database;
  private readonly journal: SubmissionJournal;
  /** Journal records not done yet, in sequence order. */
  private readonly journalRecords: PendingJournalRecord[];
  private readonly cacheBytes: number;
  private cachedBytes = 0;
  /**
   * Sequence numbers of the records held back in LevelDB, ascending: few (retries), and known here so
   * that reading the queue does not seek LevelDB's tables for them on every batch.
   */
  private readonly heldBack: number[];
  /** Journal records below this sequence number are done (durably, once the batch that says so is written). */
  private doneBefore: number;
  private nextSeq: number;
  private readonly waiters = new Set<() => void>();

  private constructor(
    db: Database,
    journal: SubmissionJournal,
    records: PendingJournalRecord[],
    doneBefore: number,
    nextSeq: number,
    cacheBytes: number,
    heldBack: number[],
  ) {
    this.db = db;
    this.heldBack = heldBack;
    this.cacheBytes = cacheBytes;
    this.journal = journal;
    this.journalRecords = records;
    this.doneBefore = doneBefore;
    this.nextSeq = nextSeq;
  }

  /**
   * Opens the queue: the journal's records past the done marker and LevelDB's held-back records.
   * Sequence numbers continue after all of them. Closed with the database.
   */
  static async open(db: Database, init: SubmissionQueueInit = {}): Promise<SubmissionQueue> {
    const marker = await db.get(QUEUE_DONE_KEY);
    const doneBefore = marker === undefined ? 0 : decodeQueueDone(marker);
    const records: PendingJournalRecord[] = [];
    const journal = await SubmissionJournal.open(
      init.dir ?? join(dirname(db.location), 'queue'),
      doneBefore,
      init,
      (record, payload) => records.push({ record, count: countLines(payload), payload: undefined }),
    );
    const heldBack: number[] = [];
    for await (const key of db.keys(queueRange())) heldBack.push(seqOfQueueKey(key));
    const nextSeq = Math.max(doneBefore, journal.nextSeq() ?? 0, (heldBack.at(-1) ?? -1) + 1);
    const queue = new SubmissionQueue(
      db,
      journal,
      records,
      doneBefore,
      nextSeq,
      init.cacheBytes ?? 64 * 1024 * 1024,
      heldBack,
    );
    db.attachResource(queue);
    if (records.length > 0) log('%d queued record(s) waiting in the journal', records.length);
    return queue;
  }

  /** Durably appends one record of submissions (a synced write); resolves once it survives a crash. */
  async enqueue(submissions: readonly Submission[]): Promise<QueuedRecord> {
    if (submissions.length === 0) throw new RangeError('nothing to enqueue');
    const payload = encodeRecord(submissions);
    const seq = this.nextSeq++;
    const record = await this.journal.append(seq, payload);
    const cached = this.cachedBytes + payload.length <= this.cacheBytes;
    if (cached) this.cachedBytes += payload.length;
    this.journalRecords.push({ record, count: submissions.length, payload: cached ? payload : undefined });
    for (const wake of this.waiters) wake();
    this.waiters.clear();
    return new QueuedRecord(seq, payload, true, submissions.length);
  }

  /** Sequence number of the newest record enqueued (-1 before any). */
  lastSeq(): number {
    return this.nextSeq - 1;
  }

  /**
   * Pending records with sequence numbers >= `fromSeq`, oldest first, holding about `maxSubmissions`
   * submissions in all (at least one record, however large): the journal's and the held-back ones.
   */
  async pending(fromSeq: number, maxSubmissions: number): Promise<QueuedRecord[]> {
    const out: QueuedRecord[] = [];
    let count = 0;
    const fits = (n: number) => out.length === 0 || count + n <= maxSubmissions;
    // Copies: the lists may change while a read waits.
    const journal = this.journalRecords.slice(
      firstAtOrAfter(this.journalRecords, fromSeq, (r) => r.record.seq),
    );
    const heldBack = this.heldBack.slice(firstAtOrAfter(this.heldBack, fromSeq, (seq) => seq));
    let j = 0;
    let h = 0;
    for (;;) {
      const fromJournal = journal[j];
      const heldSeq = heldBack[h];
      if (fromJournal === undefined && heldSeq === undefined) break;
      if (heldSeq !== undefined && (fromJournal === undefined || heldSeq < fromJournal.record.seq)) {
        const value = await this.db.get(queueKey(heldSeq));
        h++;
        // Gone meanwhile: settled by a batch that finished while this read waited.
        if (value === undefined) continue;
        const record = new QueuedRecord(heldSeq, value, false);
        if (!fits(record.count)) break;
        out.push(record);
        count += record.count;
      } else {
        const { record, count: n, payload } = fromJournal!;
        // Compared before reading: a record past the cap is not read at all.
        if (!fits(n)) break;
        out.push(new QueuedRecord(record.seq, payload ?? (await this.journal.read(record)), true, n));
        count += n;
        j++;
      }
    }
    return out;
  }

  /** Resolves when something is enqueued (or immediately if `signal` aborts). */
  waitForWork(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const wake = () => {
        signal?.removeEventListener('abort', wake);
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }

  /**
   * The operations that settle `records` (taken in order) in the caller's atomic batch: the done
   * marker moves past the journal's records, held-back records that are done are deleted, and
   * submissions in `waiting` (by record) are held back in LevelDB for a retry.
   */
  settleOps(
    records: readonly QueuedRecord[],
    waiting: ReadonlyMap<number, readonly Submission[]>,
  ): BatchOp[] {
    const ops: BatchOp[] = [];
    let journalEnd: number | undefined;
    for (const record of records) {
      const left = waiting.get(record.seq);
      if (left !== undefined && left.length > 0)
        ops.push({ type: 'put', key: queueKey(record.seq), value: encodeRecord(left) });
      else if (!record.inJournal) ops.push({ type: 'del', key: queueKey(record.seq) });
      if (record.inJournal) journalEnd = Math.max(journalEnd ?? 0, record.seq + 1);
    }
    if (journalEnd !== undefined && journalEnd > this.doneBefore)
      ops.push({ type: 'put', key: QUEUE_DONE_KEY, value: encodeQueueDone(journalEnd) });
    return ops;
  }

  /**
   * Called once the batch with `settleOps(records, waiting)` is durable: forgets what is done and
   * frees journal space.
   */
  settled(records: readonly QueuedRecord[], waiting: ReadonlyMap<number, readonly Submission[]>): void {
    for (const record of records) {
      if (record.inJournal) this.doneBefore = Math.max(this.doneBefore, record.seq + 1);
      const kept = (waiting.get(record.seq)?.length ?? 0) > 0;
      const at = firstAtOrAfter(this.heldBack, record.seq, (seq) => seq);
      const held = this.heldBack[at] === record.seq;
      if (kept && !held) this.heldBack.splice(at, 0, record.seq);
      else if (!kept && held) this.heldBack.splice(at, 1);
    }
    let drop = 0;
    while (drop < this.journalRecords.length && this.journalRecords[drop]!.record.seq < this.doneBefore)
      drop++;
    this.journalRecords.splice(0, drop);
    this.journal
      .release(this.doneBefore)
      .catch((err: unknown) => log.error('could not delete done journal segments: %s', err));
  }

  /** Number of pending submissions (reads LevelDB's held-back records; for status and metrics). */
  async size(): Promise<number> {
    let n = 0;
    for (const { count } of this.journalRecords) n += count;
    for (const value of await this.db.getMany(this.heldBack.map(queueKey)))
      n += value === undefined ? 0 : countLines(value);
    return n;
  }

  /** Closes the journal (also done when the database closes). */
  async close(): Promise<void> {
    await this.journal.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Index of the first item whose sequence number is >= `seq` (items ascending). */
function firstAtOrAfter<T>(items: readonly T[], seq: number, seqOf: (item: T) => number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (seqOf(items[mid]!) < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
