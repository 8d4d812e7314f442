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
import { parseStorePath } from '../protocol/store-path.ts';
import { appendLeaves } from '../protocol/tile-edge.ts';
import type { TileData } from '../protocol/tiles.ts';
import type { NoteSigner } from '../protocol/vkey.ts';
import { type BatchOp, type Database, writeBatch } from './database.ts';
import { decodeIndexList, encodeIndexList } from './layout.ts';
import type { LogStore } from './log-store.ts';
import type { QueuedSubmission, Submission, SubmissionQueue } from './submission-queue.ts';

const log = logger('trustix:sequencer');
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface SequencerInit {
  /** Longest a submission waits for its batch, in ms. Default 500. */
  readonly intervalMs?: number;
  /** Most queued submissions taken into one batch. Default 10,000. */
  readonly maxBatchSubmissions?: number;
  /** Submissions resolved (hashed) at once. Default 2. */
  readonly resolveConcurrency?: number;
  /** Store directory of entries. Default '/nix/store'. */
  readonly storeDir?: string;
}

export interface SequencerComponents {
  readonly db: Database;
  readonly store: LogStore;
  readonly queue: SubmissionQueue;
  /** The log key, which signs checkpoints. */
  readonly signer: NoteSigner;
  /** Turns a drv or path submission into its entries (fingerprints); throws to refuse it. */
  resolve(submission: Submission): Promise<string[]>;
}

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

  constructor(components: SequencerComponents, init: SequencerInit = {}) {
    super();
    this.components = components;
    this.init = {
      intervalMs: 500,
      maxBatchSubmissions: 10_000,
      resolveConcurrency: 2,
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
        if (batch.length < this.init.maxBatchSubmissions && this.init.intervalMs > 0) {
          // Pool: let more submissions join, so one checkpoint covers them all.
          await sleep(this.init.intervalMs, signal);
          batch = await this.components.queue.pending(this.cursor, this.init.maxBatchSubmissions);
        }
        await this.sequence(batch);
      } catch (err) {
        // The batch did not commit: nothing changed; try again shortly.
        log.error('sequencing failed, retrying: %s', err);
        await sleep(1000, signal);
      }
    }
  }

  private async sequence(batch: readonly QueuedSubmission[]): Promise<void> {
    const { store } = this.components;
    const resolved = await this.resolveAll(batch);

    const candidates: string[] = [];
    for (const r of resolved) if (r.entries) candidates.push(...r.entries);
    const fresh = await this.withoutDuplicates(candidates);

    const ops: BatchOp[] = batch.map((q) => this.components.queue.deleteOp(q.seq));
    const oldSize = store.size;
    let newRoot = store.root;
    let newSize = oldSize;
    if (fresh.length > 0) {
      const bytes = fresh.map((e) => encoder.encode(e));
      const appended = appendLeaves(oldSize, this.edge, bytes.map(leafHash));
      newSize = appended.size;
      newRoot = appended.root;
      for (const t of appended.tiles) ops.push(store.tileOp(t));
      const bundles = this.bundleOps(oldSize, bytes);
      ops.push(...bundles.ops);
      ops.push(...(await this.pathIndexOps(oldSize, fresh)));
      await this.commit(ops, newSize, newRoot);
      this.edge = mergeEdge(this.edge, appended.tiles, newSize);
      this.partial = bundles.partial;
    } else {
      await writeBatch(this.components.db, ops);
    }

    this.cursor = batch[batch.length - 1]!.seq + 1;
    for (const r of resolved) {
      if (r.error)
        this.dispatchEvent(
          new CustomEvent('rejected', { detail: { submission: r.submission, error: r.error } }),
        );
    }
    for (let i = this.sequencedWaiters.length - 1; i >= 0; i--) {
      const w = this.sequencedWaiters[i]!;
      if (w.seq < this.cursor) {
        this.sequencedWaiters.splice(i, 1);
        w.resolve();
      }
    }
    log(
      'batch of %d submission(s): %d new entries, size %d -> %d',
      batch.length,
      fresh.length,
      oldSize,
      newSize,
    );
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

  private async resolveAll(
    batch: readonly QueuedSubmission[],
  ): Promise<{ submission: Submission; entries?: string[]; error?: Error }[]> {
    const out: { submission: Submission; entries?: string[]; error?: Error }[] = new Array(batch.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < batch.length; i = next++) {
        const { submission } = batch[i]!;
        if (submission.kind === 'entry') {
          out[i] = { submission, entries: [submission.entry] };
          continue;
        }
        try {
          out[i] = { submission, entries: await this.components.resolve(submission) };
        } catch (err) {
          log.error('refused %j: %s', submission, err);
          out[i] = { submission, error: err instanceof Error ? err : new Error(String(err)) };
        }
      }
    };
    await Promise.all(Array.from({ length: this.init.resolveConcurrency }, worker));
    return out;
  }

  /** The entries that neither the log nor an earlier entry of the batch holds, in order. */
  private async withoutDuplicates(entries: readonly string[]): Promise<string[]> {
    if (entries.length === 0) return [];
    const { store } = this.components;
    const hashParts = entries.map((e) => this.hashPartOf(e));
    const distinct = [...new Set(hashParts)];
    const records = await this.components.db.getMany(distinct.map((h) => store.pathIndexKey(h)));
    const known = new Map<string, Set<string>>();
    for (let i = 0; i < distinct.length; i++) {
      const record = records[i];
      if (record === undefined) continue;
      const seen = new Set<string>();
      for (const index of decodeIndexList(record)) {
        const entry = await store.entry(index);
        if (entry !== undefined) seen.add(decoder.decode(entry));
      }
      known.set(distinct[i]!, seen);
    }
    const fresh: string[] = [];
    entries.forEach((entry, i) => {
      const h = hashParts[i]!;
      let seen = known.get(h);
      if (seen === undefined) known.set(h, (seen = new Set()));
      if (seen.has(entry)) return;
      seen.add(entry);
      fresh.push(entry);
    });
    return fresh;
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

  private async pathIndexOps(oldSize: number, entries: readonly string[]): Promise<BatchOp[]> {
    const { store, db } = this.components;
    const added = new Map<string, number[]>();
    entries.forEach((e, i) => {
      const h = this.hashPartOf(e);
      const list = added.get(h);
      if (list === undefined) added.set(h, [oldSize + i]);
      else list.push(oldSize + i);
    });
    const keys = [...added.keys()].map((h) => store.pathIndexKey(h));
    const existing = await db.getMany(keys);
    return [...added.values()].map((indices, i) => ({
      type: 'put' as const,
      key: keys[i]!,
      value: encodeIndexList([...(existing[i] ? decodeIndexList(existing[i]) : []), ...indices]),
    }));
  }

  private hashPartOf(entry: string): string {
    // Entries were validated when submitted or built by us: field 2 is the store path.
    const start = entry.indexOf(';') + 1;
    return parseStorePath(entry.slice(start, entry.indexOf(';', start)), this.init.storeDir).hashPart;
  }
}

/** The right edge after appending: new partial tiles replace old ones, filled levels drop out. */
function mergeEdge(edge: readonly TileData[], written: readonly TileData[], size: number): TileData[] {
  const byLevel = new Map(edge.map((t) => [t.tile.level, t]));
  for (const t of written) byLevel.set(t.tile.level, t);
  const out: TileData[] = [];
  for (const t of byLevel.values()) {
    const count = Math.floor(size / 256 ** t.tile.level);
    if (count % TILE_WIDTH !== 0 && t.tile.index === Math.floor(count / TILE_WIDTH)) out.push(t);
  }
  return out.sort((a, b) => a.tile.level - b.tile.level);
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
