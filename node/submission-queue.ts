/**
 * The durable queue of pending submissions. A request's submissions are acknowledged only once they
 * are in LevelDB (synced), as one record; the sequencer deletes (or shrinks) the record in the same
 * atomic batch that appends its entries, so a crash at any moment loses nothing and duplicates nothing.
 * One record per request, not per submission: bulk imports of thousands of entries cost one key.
 *
 * Record value: one line per submission (UTF-8, '\n' between lines; the values hold no newline,
 * as the submit server checks), a kind letter, a space, the value:
 *   d /nix/store/…-x.drv                  a derivation: outputs resolved by the node (post-build hook)
 *   p /nix/store/…-x                      a store path: NAR hash and references computed by the node
 *   e 1;/nix/store/…;sha256:…;123;        a ready fingerprint (import-cache)
 * Plain lines, not JSON: bulk imports queue hundreds of thousands of entries, and this is their cost.
 */
import { type BatchOp, type Database, writeBatch } from './database.ts';
import { queueKey, queueRange, seqOfQueueKey } from './layout.ts';

export type Submission =
  | { readonly kind: 'drv'; readonly drvPath: string }
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'entry'; readonly entry: string };

/** One acknowledged request: its sequence number and submissions, in order. */
export interface QueuedRecord {
  readonly seq: number;
  readonly submissions: readonly Submission[];
}

export class SubmissionQueue {
  private readonly db: Database;
  private nextSeq = 0;
  private readonly waiters = new Set<() => void>();

  private constructor(db: Database) {
    this.db = db;
  }

  /** Opens the queue, continuing its sequence numbers after what is stored. */
  static async open(db: Database): Promise<SubmissionQueue> {
    const queue = new SubmissionQueue(db);
    for await (const key of db.keys({ ...queueRange(), reverse: true, limit: 1 })) {
      queue.nextSeq = seqOfQueueKey(key) + 1;
    }
    return queue;
  }

  /** Durably appends one record of submissions (a synced write); resolves once it survives a crash. */
  async enqueue(submissions: readonly Submission[]): Promise<QueuedRecord> {
    if (submissions.length === 0) throw new RangeError('nothing to enqueue');
    const record = { seq: this.nextSeq++, submissions: [...submissions] };
    await writeBatch(this.db, [this.putOp(record.seq, record.submissions)]);
    for (const wake of this.waiters) wake();
    this.waiters.clear();
    return record;
  }

  /** Sequence number of the newest record enqueued (-1 before any). */
  lastSeq(): number {
    return this.nextSeq - 1;
  }

  /**
   * Pending records with sequence numbers >= `fromSeq`, oldest first, holding about `maxSubmissions`
   * submissions in all (at least one record, however large).
   */
  async pending(fromSeq: number, maxSubmissions: number): Promise<QueuedRecord[]> {
    const out: QueuedRecord[] = [];
    let count = 0;
    const range = queueRange();
    for await (const [key, value] of this.db.iterator({ gte: queueKey(fromSeq), lt: range.lt })) {
      const submissions = parseRecord(value);
      if (out.length > 0 && count + submissions.length > maxSubmissions) break;
      out.push({ seq: seqOfQueueKey(key), submissions });
      count += submissions.length;
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

  /** The batch operation that removes a record; callers add it to their own atomic batch. */
  deleteOp(seq: number): BatchOp {
    return { type: 'del', key: queueKey(seq) };
  }

  /** The batch operation that replaces a record's submissions (those still waiting). */
  putOp(seq: number, submissions: readonly Submission[]): BatchOp {
    const lines = submissions.map((s) => {
      const value = s.kind === 'entry' ? s.entry : s.kind === 'path' ? s.path : s.drvPath;
      if (value.includes('\n')) throw new RangeError('a queued submission cannot hold a newline');
      return `${s.kind[0]} ${value}`;
    });
    return { type: 'put', key: queueKey(seq), value: Buffer.from(lines.join('\n'), 'utf8') };
  }

  /** Number of pending submissions (reads the whole queue; only for status and metrics). */
  async size(): Promise<number> {
    let n = 0;
    for await (const value of this.db.values(queueRange())) n += parseRecord(value).length;
    return n;
  }
}

function parseRecord(value: Uint8Array): Submission[] {
  const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
  return text.split('\n').map((line): Submission => {
    const v = line.slice(2);
    if (line.startsWith('e ')) return { kind: 'entry', entry: v };
    if (line.startsWith('p ')) return { kind: 'path', path: v };
    if (line.startsWith('d ')) return { kind: 'drv', drvPath: v };
    throw new TypeError(`unknown queued submission: ${line.slice(0, 200)}`);
  });
}
