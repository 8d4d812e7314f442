/**
 * One batch of the sequencer: from queued records to the LevelDB writes that append their new entries.
 * Ready entries are taken as views of the queued bytes; drv and path submissions go to the resolver in
 * one call and their entries take the submission's place in the order; entries the log (or the batch
 * in flight) holds are dropped; the rest are hashed into the tiles and encoded into entry bundles; the
 * queue's settling operations and the path index records go in the same batch. Signing and writing
 * are the sequencer's (node/own-log/sequencer.ts).
 */
import { TILE_WIDTH } from '../../protocol/constants.ts';
import { encodeEntryBundleInto, entryBundleSize } from '../../protocol/entry-bundle.ts';
import { leafHash } from '../../protocol/merkle.ts';
import { appendLeaves, edgeAfter } from '../../protocol/tile-edge.ts';
import type { TileData } from '../../protocol/tiles.ts';
import { InternalError } from '../errors.ts';
import type { BatchOp, Database } from '../store/database.ts';
import type { LogStore } from '../store/log-store.ts';
import { type BatchPaths, newEntries, type PathsInFlight, pathIndexOps } from '../store/path-index.ts';
import type { QueuedRecord, Submission, SubmissionQueue } from './submission-queue.ts';

/** What became of one submission: its entries, or why not (`retry`: Nix busy or missing, try again later). */
export type ResolveOutcome =
  | { readonly ok: true; readonly entries: readonly string[] }
  | { readonly ok: false; readonly error: Error; readonly retry: boolean };

/** Turns submissions into their entries (fingerprints), one outcome per submission, in order. */
export type Resolve = (submissions: readonly Submission[]) => Promise<ResolveOutcome[]>;

/** What a batch is prepared from. */
export interface BatchComponents {
  readonly db: Database;
  readonly store: LogStore;
  readonly queue: SubmissionQueue;
  readonly resolve: Resolve;
  /** Store directory of entries. */
  readonly storeDir: string;
  /** Most entries the log takes for one store path (SequencerInit.maxPathEntries). */
  readonly maxPathEntries: number;
}

/** The tree as it stands once every prepared batch is written: what the next batch builds on. */
export interface BatchTip {
  readonly size: number;
  readonly root: Uint8Array;
  readonly edge: TileData[];
  readonly partial: Uint8Array[];
}

/** A batch ready to be signed and written. */
export interface PreparedBatch {
  readonly records: readonly QueuedRecord[];
  /** Tiles, bundles, path index and queue removals; the checkpoint is added when it is signed. */
  readonly ops: BatchOp[];
  /** The tree after the batch, or undefined when it appends nothing (no new checkpoint). */
  readonly tree: { readonly size: number; readonly root: Uint8Array } | undefined;
  readonly others: readonly Submission[];
  readonly outcomes: readonly ResolveOutcome[];
  readonly paths: BatchPaths;
  /** The first record kept in the queue for a retry, if any. */
  readonly retryFrom: number | undefined;
  readonly candidateCount: number;
  readonly oldSize: number;
  /** The buffer the batch's entry bundles are views of (see bundleOps). */
  readonly bundleBuffer: Buffer | undefined;
  /** Submissions held back for a retry, by record. */
  readonly waiting: ReadonlyMap<number, readonly Submission[]>;
}

/**
 * Turns a batch of queued records into the writes that append its new entries on top of `tip` (which
 * may include a batch still being written, whose path records are `inFlight`), and the tip after it.
 * `bundleBuffer` is reused for the entry bundles when large enough.
 */
export async function prepareBatch(
  components: BatchComponents,
  batch: readonly QueuedRecord[],
  tip: BatchTip,
  inFlight: PathsInFlight | undefined,
  bundleBuffer: Buffer | undefined,
): Promise<{ prepared: PreparedBatch; tip: BatchTip }> {
  const { store, queue } = components;
  // Ready entries are taken as views of the queued bytes; drv and path submissions go to the
  // resolver, all in one call, and their entries take the submission's place in the order.
  const order: (Buffer | number)[] = [];
  const others: Submission[] = [];
  const othersOf: number[] = [];
  for (const record of batch) {
    const before = others.length;
    record.visit(
      (entry) => order.push(entry),
      (submission) => {
        order.push(others.length);
        others.push(submission);
      },
    );
    othersOf.push(others.length - before);
  }
  const outcomes = others.length === 0 ? [] : await resolveAll(components, others);
  const candidates: Buffer[] = [];
  for (const item of order) {
    if (typeof item !== 'number') candidates.push(item);
    else {
      const outcome = outcomes[item]!;
      // Fingerprints are ASCII (store paths and base-32 hashes), so latin1 is their UTF-8.
      if (outcome.ok) for (const e of outcome.entries) candidates.push(Buffer.from(e, 'latin1'));
    }
  }

  const waiting = new Map<number, Submission[]>();
  let retryFrom: number | undefined;
  let at = 0;
  batch.forEach((record, r) => {
    for (let k = 0; k < othersOf[r]!; k++, at++) {
      const outcome = outcomes[at]!;
      if (outcome.ok || !outcome.retry) continue;
      // A record is done once all its submissions are in the log or refused; else it shrinks.
      const kept = waiting.get(record.seq);
      if (kept === undefined) waiting.set(record.seq, [others[at]!]);
      else kept.push(others[at]!);
      retryFrom ??= record.seq;
    }
  });
  const ops = queue.settleOps(batch, waiting);
  const paths = await newEntries(
    components.db,
    store,
    components.storeDir,
    candidates,
    inFlight,
    components.maxPathEntries,
  );
  const { fresh } = paths;

  let tree: PreparedBatch['tree'];
  let next = tip;
  let buffer: Buffer | undefined;
  if (fresh.length > 0) {
    const hashes: Uint8Array[] = new Array(fresh.length);
    for (let i = 0; i < fresh.length; i++) hashes[i] = leafHash(fresh[i]!);
    const appended = appendLeaves(tip.size, tip.edge, hashes);
    for (const t of appended.tiles) ops.push(store.tileOp(t));
    const bundles = bundleOps(store, tip.size, tip.partial, fresh, bundleBuffer);
    for (const op of bundles.ops) ops.push(op);
    buffer = bundles.buffer;
    for (const op of pathIndexOps(tip.size, paths)) ops.push(op);
    tree = { size: appended.size, root: appended.root };
    next = {
      size: appended.size,
      root: appended.root,
      edge: edgeAfter(tip.edge, appended.tiles, appended.size),
      // Copied: views would keep whole queued records (megabytes each) alive with the partial bundle.
      partial: bundles.partial.map((e) => Uint8Array.from(e)),
    };
  }
  const prepared: PreparedBatch = {
    records: batch,
    ops,
    tree,
    others,
    outcomes,
    paths,
    retryFrom,
    candidateCount: candidates.length,
    oldSize: tip.size,
    bundleBuffer: buffer ?? bundleBuffer,
    waiting,
  };
  return { prepared, tip: next };
}

/** Outcomes of drv and path submissions, in order, from the resolver in one call. */
async function resolveAll(
  components: BatchComponents,
  submissions: readonly Submission[],
): Promise<ResolveOutcome[]> {
  const resolved = await components.resolve(submissions);
  return submissions.map(
    (_, i) => resolved[i] ?? { ok: false, error: new InternalError('resolver gave no outcome'), retry: true },
  );
}

/**
 * Puts for the entry bundles that change: the partial one grows, new ones follow. The bundles are
 * views of one buffer reused from batch to batch (a fresh 160 KiB buffer per bundle costs page
 * faults here, 13 us each); it is handed back once the batch's write has copied them.
 */
function bundleOps(
  store: LogStore,
  oldSize: number,
  partial: readonly Uint8Array[],
  entries: readonly Uint8Array[],
  reuse: Buffer | undefined,
): { ops: BatchOp[]; partial: Uint8Array[]; buffer: Buffer } {
  const bundles: { index: number; entries: Uint8Array[] }[] = [];
  let bundle = partial.slice();
  let index = Math.floor(oldSize / TILE_WIDTH);
  let pos = 0;
  let total = 0;
  while (pos < entries.length) {
    const take = Math.min(TILE_WIDTH - bundle.length, entries.length - pos);
    bundle = bundle.concat(entries.slice(pos, pos + take));
    pos += take;
    bundles.push({ index, entries: bundle });
    total += entryBundleSize(bundle);
    if (bundle.length === TILE_WIDTH) {
      bundle = [];
      index++;
    }
  }
  let buffer = reuse;
  if (buffer === undefined || buffer.length < total)
    buffer = Buffer.allocUnsafe(Math.max(total, 2 * (buffer?.length ?? 0)));
  const ops: BatchOp[] = [];
  let offset = 0;
  for (const b of bundles) {
    const bytes = encodeEntryBundleInto(b.entries, buffer, offset);
    offset += bytes.length;
    ops.push(store.bundleOp(b.index, bytes));
  }
  return { ops, partial: bundle, buffer };
}
