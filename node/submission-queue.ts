/**
 * The durable queue of pending submissions. A submission is acknowledged only once it is in
 * LevelDB (synced); the sequencer deletes it in the same atomic batch that appends its entries,
 * so a crash at any moment loses nothing and duplicates nothing.
 *
 * Value format (JSON, UTF-8), one of:
 *   {"kind":"drv","drvPath":"/nix/store/…-x.drv"}   outputs resolved by the node (post-build hook)
 *   {"kind":"path","path":"/nix/store/…-x"}         NAR hash and references computed by the node
 *   {"kind":"entry","entry":"1;/nix/store/…;sha256:…;123;"}  a ready fingerprint (import-cache)
 */
import type { BatchOp, Database } from './database.ts';
import { queueKey, queueRange, seqOfQueueKey } from './layout.ts';

export type Submission =
  | { readonly kind: 'drv'; readonly drvPath: string }
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'entry'; readonly entry: string };

export interface QueuedSubmission {
  readonly seq: number;
  readonly submission: Submission;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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

  /** Durably appends submissions (one synced batch); resolves once they survive a crash. */
  async enqueue(submissions: readonly Submission[]): Promise<QueuedSubmission[]> {
    const queued = submissions.map((submission) => ({ seq: this.nextSeq++, submission }));
    await this.db.batch(
      queued.map(({ seq, submission }) => ({
        type: 'put' as const,
        key: queueKey(seq),
        value: encoder.encode(JSON.stringify(submission)),
      })),
      { sync: true },
    );
    for (const wake of this.waiters) wake();
    this.waiters.clear();
    return queued;
  }

  /** Sequence number of the newest submission enqueued (-1 before any). */
  lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Up to `limit` pending submissions with sequence numbers >= `fromSeq`, oldest first. */
  async pending(fromSeq: number, limit: number): Promise<QueuedSubmission[]> {
    const out: QueuedSubmission[] = [];
    const range = queueRange();
    for await (const [key, value] of this.db.iterator({ gte: queueKey(fromSeq), lt: range.lt, limit })) {
      out.push({ seq: seqOfQueueKey(key), submission: parseSubmission(value) });
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

  /** The batch operation that removes a submission; callers add it to their own atomic batch. */
  deleteOp(seq: number): BatchOp {
    return { type: 'del', key: queueKey(seq) };
  }

  /** Number of pending submissions (a range count; only for status and metrics). */
  async size(): Promise<number> {
    let n = 0;
    for await (const _ of this.db.keys(queueRange())) n++;
    return n;
  }
}

function parseSubmission(value: Uint8Array): Submission {
  const v = JSON.parse(decoder.decode(value)) as Record<string, unknown>;
  if (v['kind'] === 'drv' && typeof v['drvPath'] === 'string') return { kind: 'drv', drvPath: v['drvPath'] };
  if (v['kind'] === 'path' && typeof v['path'] === 'string') return { kind: 'path', path: v['path'] };
  if (v['kind'] === 'entry' && typeof v['entry'] === 'string') return { kind: 'entry', entry: v['entry'] };
  throw new TypeError(`unknown queued submission: ${decoder.decode(value).slice(0, 200)}`);
}
