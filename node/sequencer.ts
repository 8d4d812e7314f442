/**
 * The sequencer of our own log. Submissions wait in the durable queue; every `intervalMs` (or as soon
 * as a full batch is waiting) the sequencer takes a batch, turns each submission into entries, drops
 * entries the log already holds, integrates the rest into the tiles, signs a checkpoint and writes all of
 * it, with the removal of the submissions from the queue, as ONE synced LevelDB batch. Only then is the
 * checkpoint adopted and announced. So a crash at any moment leaves either the old or the new state,
 * and every acknowledged submission is either still queued or in the log.
 *
 * Duplicates: an entry equal to one the log holds for that path is skipped. A different entry for a
 * path already in the log (a non-reproducible rebuild) is appended: the log records what was built.
 */
import { logger } from '@libp2p/logger';
import { openCheckpoint, type SignedCheckpoint, signCheckpoint } from '../protocol/checkpoint.ts';
import { TILE_WIDTH } from '../protocol/constants.ts';
import { encodeEntryBundle } from '../protocol/entry-bundle.ts';
import { leafHash } from '../protocol/merkle.ts';
import { appendLeaves, edgeAfter } from '../protocol/tile-edge.ts';
import type { TileData } from '../protocol/tiles.ts';
import type { NoteSigner } from '../protocol/vkey.ts';
import { type BatchOp, type Database, writeBatch } from './database.ts';
import type { LogStore } from './log-store.ts';
import { newEntries, pathIndexOps } from './path-index.ts';
import type { QueuedRecord, Submission, SubmissionQueue } from './submission-queue.ts';

const log = logger('trustix:sequencer');

export interface SequencerInit {
  /** Longest a submission waits for its batch, in ms. Default 500. */
  readonly intervalMs?: number;
  /** Most queued submissions taken into one batch. Default 10,000. */
  readonly maxBatchSubmissions?: number;
  /** Longest back-off before retrying submissions that failed for a passing reason, in ms. Default 60,000. */
  readonly maxRetryDelayMs?: number;
  /** Store directory of entries. Default '/nix/store'. */
  readonly storeDir?: string;
}

export interface SequencerComponents {
  readonly db: Database;
  readonly store: LogStore;
  readonly queue: SubmissionQueue;
  /** The log key, which signs checkpoints. */
  readonly signer: NoteSigner;
  /**
   * Turns drv and path submissions into their entries (fingerprints), one outcome per submission in
   * order. A refused submission is dropped from the queue and reported; one whose error is `retry`
   * (Nix busy or missing) stays queued and is tried again after a back-off.
   */
  resolve(submissions: readonly Submission[]): Promise<ResolveOutcome[]>;
}

export type ResolveOutcome =
  | { readonly ok: true; readonly entries: readonly string[] }
  | { readonly ok: false; readonly error: Error; readonly retry: boolean };

/** A submission that could not become entries, with the reason. */
export interface Rejection {
  readonly submission: Submission;
  readonly error: Error;
}

export interface SequencerEvents {
  checkpoint: CustomEvent<SignedCheckpoint>;
  rejected: CustomEvent<Rejection>;
}

export class Sequencer extends EventTarget {
  private readonly components: SequencerComponents;
  private readonly init: Required<SequencerInit>;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  /** Sequence number of the next queued submission not yet taken. */
  private cursor = 0;
  private edge: TileData[] = [];
  private partial: Uint8Array[] = [];
  private readonly sequencedWaiters: { seq: number; resolve: () => void }[] = [];
  private retryDelayMs = 0;
  /** One past the highest sequence number ever taken into a batch. */
  private taken = 0;

  constructor(components: SequencerComponents, init: SequencerInit = {}) {
    super();
    this.components = components;
    this.init = {
      intervalMs: 500,
      maxBatchSubmissions: 10_000,
      maxRetryDelayMs: 60_000,
      storeDir: '/nix/store',
      ...init,
    };
  }

  async start(): Promise<void> {
    if (this.loop !== undefined) return;
    const { store } = this.components;
    if (store.checkpoint() === undefined) await this.commit([], store.size, store.root);
    this.edge = await store.edge();
    this.partial = await store.partialBundle();
    this.cursor = 0;
    this.taken = 0;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal);
  }

  /** Stops after the batch in progress (which completes and is durable). */
  async stop(): Promise<void> {
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
  }

  /** Resolves once every submission queued before the call has been sequenced (or refused). */
  async flushed(): Promise<void> {
    const last = this.components.queue.lastSeq();
    if (last < this.cursor) return;
    await new Promise<void>((resolve) => this.sequencedWaiters.push({ seq: last, resolve }));
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        let batch = await this.components.queue.pending(this.cursor, this.init.maxBatchSubmissions);
        if (batch.length === 0) {
          await this.components.queue.waitForWork(signal);
          continue;
        }
        if (countOf(batch) < this.init.maxBatchSubmissions && this.init.intervalMs > 0) {
          // Pool: let more submissions join, so one checkpoint covers them all.
          await sleep(this.init.intervalMs, signal);
          batch = await this.components.queue.pending(this.cursor, this.init.maxBatchSubmissions);
        }
        const retrying = await this.sequence(batch);
        if (retrying) {
          this.retryDelayMs = Math.min(this.init.maxRetryDelayMs, Math.max(1000, this.retryDelayMs * 2));
          log('submissions wait for a retry in %d ms', this.retryDelayMs);
          await sleep(this.retryDelayMs, signal);
        } else this.retryDelayMs = 0;
      } catch (err) {
        // The batch did not commit: nothing changed; try again shortly.
        log.error('sequencing failed, retrying: %s', err);
        await sleep(1000, signal);
      }
    }
  }

  /** Sequences one batch of queued records; true when some submissions stay queued for a retry. */
  private async sequence(batch: readonly QueuedRecord[]): Promise<boolean> {
    const { store, queue } = this.components;
    const submissions = batch.flatMap((r) => r.submissions);
    const outcomes = await this.resolveAll(submissions);

    const candidates: string[] = [];
    const ops: BatchOp[] = [];
    let retryFrom: number | undefined;
    let at = 0;
    for (const record of batch) {
      const waiting: Submission[] = [];
      for (const submission of record.submissions) {
        const outcome = outcomes[at++]!;
        if (outcome.ok) candidates.push(...outcome.entries);
        else if (outcome.retry) waiting.push(submission);
      }
      // A record is removed once all its submissions are in the log or refused; else it shrinks.
      if (waiting.length === 0) ops.push(queue.deleteOp(record.seq));
      else {
        ops.push(queue.putOp(record.seq, waiting));
        retryFrom ??= record.seq;
      }
    }
    const { fresh, indexed } = await newEntries(this.components.db, store, this.init.storeDir, candidates);

    const oldSize = store.size;
    if (fresh.length > 0) {
      // Entries are ASCII (validated at submission), so latin1 is their UTF-8, from Node's buffer pool.
      const bytes = fresh.map((e) => Buffer.from(e, 'latin1'));
      const appended = appendLeaves(oldSize, this.edge, bytes.map(leafHash));
      for (const t of appended.tiles) ops.push(store.tileOp(t));
      const bundles = this.bundleOps(oldSize, bytes);
      ops.push(...bundles.ops);
      ops.push(...pathIndexOps(store, this.init.storeDir, oldSize, fresh, indexed));
      await this.commit(ops, appended.size, appended.root);
      this.edge = edgeAfter(this.edge, appended.tiles, appended.size);
      this.partial = bundles.partial;
    } else {
      await writeBatch(this.components.db, ops);
    }

    // Records kept for a retry are read again from the queue; the others are gone from it, so once
    // nothing waits for a retry everything below the highest sequence taken is done.
    this.taken = Math.max(this.taken, batch[batch.length - 1]!.seq + 1);
    this.cursor = retryFrom ?? this.taken;
    submissions.forEach((submission, i) => {
      const outcome = outcomes[i]!;
      if (!outcome.ok && !outcome.retry) {
        log.error('refused %j: %s', submission, outcome.error.message);
        this.dispatchEvent(new CustomEvent('rejected', { detail: { submission, error: outcome.error } }));
      }
    });
    for (let i = this.sequencedWaiters.length - 1; i >= 0; i--) {
      const w = this.sequencedWaiters[i]!;
      if (w.seq < this.cursor) {
        this.sequencedWaiters.splice(i, 1);
        w.resolve();
      }
    }
    log(
      'batch of %d submission(s): %d new entries, size %d -> %d',
      submissions.length,
      fresh.length,
      oldSize,
      store.size,
    );
    return retryFrom !== undefined;
  }

  /**
   * Signs the checkpoint of (size, root) and writes it with `ops` in one synced batch; adopts and
   * announces it only once that batch is durable.
   */
  private async commit(ops: BatchOp[], size: number, root: Uint8Array): Promise<void> {
    const { store, signer, db } = this.components;
    const note = signCheckpoint({ origin: signer.name, size, root, extensions: [] }, signer);
    const checkpoint = openCheckpoint(note, store.key.verifier);
    ops.push(store.checkpointOp(note));
    await writeBatch(db, ops);
    store.advance(checkpoint);
    this.dispatchEvent(new CustomEvent('checkpoint', { detail: checkpoint }));
  }

  /** Outcomes in batch order: ready entries as they are, the rest through the resolver in one call. */
  private async resolveAll(batch: readonly Submission[]): Promise<ResolveOutcome[]> {
    const outcomes: ResolveOutcome[] = new Array(batch.length);
    const others: number[] = [];
    batch.forEach((submission, i) => {
      if (submission.kind === 'entry') outcomes[i] = { ok: true, entries: [submission.entry] };
      else others.push(i);
    });
    if (others.length > 0) {
      const resolved = await this.components.resolve(others.map((i) => batch[i]!));
      others.forEach((i, k) => {
        outcomes[i] = resolved[k] ?? { ok: false, error: new Error('resolver gave no outcome'), retry: true };
      });
    }
    return outcomes;
  }

  /** Puts for the entry bundles that change: the partial one grows, new ones follow. */
  private bundleOps(
    oldSize: number,
    entries: readonly Uint8Array[],
  ): { ops: BatchOp[]; partial: Uint8Array[] } {
    const ops: BatchOp[] = [];
    let bundle = this.partial;
    let index = Math.floor(oldSize / TILE_WIDTH);
    let pos = 0;
    while (pos < entries.length) {
      const take = Math.min(TILE_WIDTH - bundle.length, entries.length - pos);
      bundle = bundle.concat(entries.slice(pos, pos + take));
      pos += take;
      ops.push(this.components.store.bundleOp(index, encodeEntryBundle(bundle)));
      if (bundle.length === TILE_WIDTH) {
        bundle = [];
        index++;
      }
    }
    return { ops, partial: bundle };
  }
}

function countOf(records: readonly QueuedRecord[]): number {
  let n = 0;
  for (const r of records) n += r.submissions.length;
  return n;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
