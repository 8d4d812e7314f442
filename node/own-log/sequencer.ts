/**
 * The sequencer of our own log. Submissions wait in the durable queue; every `intervalMs` (or as soon
 * as a full batch is waiting) the sequencer takes a batch, turns each submission into entries, drops
 * entries the log already holds, integrates the rest into the tiles, signs a checkpoint and writes all of
 * it, with the removal of the submissions from the queue, as ONE synced LevelDB batch. Only then is the
 * checkpoint adopted and announced. So a crash at any moment leaves either the old or the new state,
 * and every acknowledged submission is either still queued or in the log.
 *
 * Pipelined: while one batch is being written and synced, the next is prepared on top of it (its
 * entries deduplicated against the batch in flight, its tiles grown from that batch's edge). The next
 * checkpoint is signed only once the batch before it is durable, and written with its own data; if a
 * write fails, what was prepared on top of it is dropped and rebuilt from the stored state.
 *
 * Duplicates: an entry equal to one the log holds for that path is skipped. A different entry for a
 * path already in the log (a non-reproducible rebuild) is appended: the log records what was built.
 *
 * One batch prepared: node/own-log/sequencer-batch.ts; the submissions a written batch refused:
 * node/own-log/sequencer-refusals.ts; what the sequencer is given and its settings:
 * node/own-log/sequencer-init.ts.
 */

import { TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { openCheckpoint, type SignedCheckpoint, signCheckpoint } from '../../protocol/checkpoint.ts';
import { writeBatch } from '../store/database.ts';
import type { PathsInFlight } from '../store/path-index.ts';
import { type BatchTip, type PreparedBatch, prepareBatch } from './sequencer-batch.ts';
import { SEQUENCER_DEFAULTS, type SequencerComponents, type SequencerInit } from './sequencer-init.ts';
import { type Rejection, reportRefusals } from './sequencer-refusals.ts';
import type { QueuedRecord } from './submission-queue.ts';

const log = logger('trustix:sequencer');

export interface SequencerEvents {
  checkpoint: CustomEvent<SignedCheckpoint>;
  rejected: CustomEvent<Rejection>;
}

/** A prepared batch whose write has been issued. */
interface InFlight {
  readonly prepared: PreparedBatch;
  readonly written: Promise<SignedCheckpoint | undefined>;
}

export class Sequencer extends TypedEventEmitter<SequencerEvents> {
  private readonly components: SequencerComponents;
  private readonly init: Required<SequencerInit>;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  /** Sequence number of the next queued record to take into a batch. */
  private cursor = 0;
  /** Every record below this sequence number is in the log (durably) or refused. */
  private done = 0;
  private tip: BatchTip | undefined;
  /** The buffer of bundle bytes, while no prepared batch holds it. */
  private bundleBuffer: Buffer | undefined;
  /** Path index records of the batch in flight, which the next batch reads instead of the store. */
  private pathsInFlight: PathsInFlight | undefined;
  private readonly sequencedWaiters: { seq: number; resolve: () => void }[] = [];
  private retryDelayMs = 0;

  constructor(components: SequencerComponents, init: SequencerInit = {}) {
    super();
    this.components = components;
    this.init = { ...SEQUENCER_DEFAULTS, ...init };
  }

  async start(): Promise<void> {
    if (this.loop !== undefined) return;
    const { store, db } = this.components;
    if (store.checkpoint() === undefined) {
      const note = this.sign(store.size, store.root);
      await writeBatch(db, [store.checkpointOp(note)]);
      this.adopt(note);
    }
    await this.resetTip();
    this.cursor = 0;
    this.done = 0;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal);
  }

  /** Stops after the batches in progress (which complete and are durable). */
  async stop(): Promise<void> {
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
  }

  /** Resolves once every submission queued before the call has been sequenced (or refused). */
  async flushed(): Promise<void> {
    const last = this.components.queue.lastSeq();
    if (last < this.done) return;
    await new Promise<void>((resolve) => this.sequencedWaiters.push({ seq: last, resolve }));
  }

  /** Resolves once the queued record `seq` (and every one before it) is in the log or refused. */
  async whenSettled(seq: number): Promise<void> {
    if (seq < this.done) return;
    await new Promise<void>((resolve) => this.sequencedWaiters.push({ seq, resolve }));
  }

  private async run(signal: AbortSignal): Promise<void> {
    let inFlight: InFlight | undefined;
    while (!signal.aborted) {
      try {
        let batch = await this.components.queue.pending(this.cursor, this.init.maxBatchSubmissions);
        if (batch.length === 0) {
          if (inFlight !== undefined) {
            // Nothing to prepare meanwhile: finish the write in flight before waiting for work.
            const settling = inFlight;
            inFlight = undefined;
            await this.finish(settling);
            continue;
          }
          await this.components.queue.waitForWork(signal);
          continue;
        }
        if (
          countOf(batch) < this.init.maxBatchSubmissions &&
          this.init.intervalMs > 0 &&
          inFlight === undefined
        ) {
          // Pool: let more submissions join, so one checkpoint covers them all.
          await sleep(this.init.intervalMs, signal);
          batch = await this.components.queue.pending(this.cursor, this.init.maxBatchSubmissions);
        }
        const prepared = await this.prepare(batch);
        if (inFlight !== undefined) {
          const settling = inFlight;
          inFlight = undefined;
          await this.finish(settling);
        }
        inFlight = { prepared, written: this.write(prepared) };
        if (prepared.retryFrom !== undefined) {
          // Records wait for a retry: settle this batch, then back off before reading them again.
          const settling = inFlight;
          inFlight = undefined;
          await this.finish(settling);
          this.retryDelayMs = Math.min(this.init.maxRetryDelayMs, Math.max(1000, this.retryDelayMs * 2));
          log('submissions wait for a retry in %d ms', this.retryDelayMs);
          await sleep(this.retryDelayMs, signal);
        } else this.retryDelayMs = 0;
      } catch (err) {
        // A batch did not commit: nothing of it (or of what was prepared on top) is stored; rebuild
        // from the stored state and try again shortly.
        log.error('sequencing failed, retrying: %s', err);
        if (inFlight !== undefined) await this.finish(inFlight).catch(() => {});
        inFlight = undefined;
        await sleep(1000, signal);
        await this.recover().catch((e: unknown) => log.error('could not reload the log state: %s', e));
      }
    }
    if (inFlight !== undefined) await this.finish(inFlight);
  }

  /** Back to the stored state after a failed batch. */
  private async recover(): Promise<void> {
    this.pathsInFlight = undefined;
    this.cursor = this.done;
    await this.resetTip();
  }

  private async resetTip(): Promise<void> {
    const { store } = this.components;
    this.tip = {
      size: store.size,
      root: store.root,
      edge: await store.edge(),
      partial: await store.partialBundle(),
    };
  }

  /**
   * Prepares a batch on top of the tip (which may include a batch still being written) and advances
   * the tip, the cursor and the paths in flight past it.
   */
  private async prepare(batch: readonly QueuedRecord[]): Promise<PreparedBatch> {
    const { db, store, queue, resolve } = this.components;
    const bundleBuffer = this.bundleBuffer;
    this.bundleBuffer = undefined;
    const { prepared, tip } = await prepareBatch(
      { db, store, queue, resolve, storeDir: this.init.storeDir, maxPathEntries: this.init.maxPathEntries },
      batch,
      this.tip!,
      this.pathsInFlight,
      bundleBuffer,
    );
    this.tip = tip;
    this.pathsInFlight =
      prepared.tree === undefined ? undefined : { batch: prepared.paths, oldSize: prepared.oldSize };
    this.cursor = prepared.retryFrom ?? batch[batch.length - 1]!.seq + 1;
    return prepared;
  }

  /**
   * Signs the batch's checkpoint (the batch before it is durable by now) and writes it with the
   * batch's data in one synced batch.
   */
  private async write(prepared: PreparedBatch): Promise<SignedCheckpoint | undefined> {
    const { store, db } = this.components;
    if (prepared.tree === undefined) {
      await writeBatch(db, prepared.ops);
      return undefined;
    }
    const note = this.sign(prepared.tree.size, prepared.tree.root);
    prepared.ops.push(store.checkpointOp(note));
    const writing = writeBatch(db, prepared.ops);
    // The batch holds copies of every value by now (LevelDB's batch put copies): the bundle buffer is free.
    this.bundleBuffer = prepared.bundleBuffer;
    await writing;
    return openCheckpoint(note, store.key.verifier);
  }

  /** Waits for a batch's write; once durable, adopts and announces its checkpoint and reports it. */
  private async finish({ prepared, written }: InFlight): Promise<void> {
    const checkpoint = await written;
    if (checkpoint !== undefined) {
      this.components.store.advance(checkpoint);
      this.dispatchEvent(new CustomEvent('checkpoint', { detail: checkpoint }));
    }
    if (this.pathsInFlight?.batch === prepared.paths) this.pathsInFlight = undefined;
    const { records } = prepared;
    this.components.queue.settled(records, prepared.waiting);
    // Records kept for a retry are read again from the queue; the others are gone from it.
    this.done = prepared.retryFrom ?? records[records.length - 1]!.seq + 1;
    reportRefusals(prepared, this.init.maxPathEntries, (rejection) =>
      this.dispatchEvent(new CustomEvent('rejected', { detail: rejection })),
    );
    for (let i = this.sequencedWaiters.length - 1; i >= 0; i--) {
      const w = this.sequencedWaiters[i]!;
      if (w.seq < this.done) {
        this.sequencedWaiters.splice(i, 1);
        w.resolve();
      }
    }
    log(
      'batch of %d record(s): %d candidate entries, %d new, size %d -> %d',
      records.length,
      prepared.candidateCount,
      prepared.paths.fresh.length,
      prepared.oldSize,
      prepared.tree?.size ?? prepared.oldSize,
    );
  }

  private sign(size: number, root: Uint8Array): Uint8Array {
    const { signer } = this.components;
    return signCheckpoint({ origin: signer.name, size, root, extensions: [] }, signer);
  }

  private adopt(note: Uint8Array): void {
    const { store } = this.components;
    const checkpoint = openCheckpoint(note, store.key.verifier);
    store.advance(checkpoint);
    this.dispatchEvent(new CustomEvent('checkpoint', { detail: checkpoint }));
  }
}

function countOf(records: readonly QueuedRecord[]): number {
  let n = 0;
  for (const r of records) n += r.count;
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
