/**
 * The ordered, windowed pipeline a sync moves entry bundles through: `concurrency` workers fetch and
 * verify bundles [first, end) in parallel, in any order; the verified ones are stored strictly in order,
 * a step at a time (at least `stepBundles` bundles or `stepBytes` bytes of whole bundles), while the
 * workers go on fetching. Workers never run more than `windowBundles` ahead of what is stored, nor start
 * a fetch while the bundles held plus those in flight (each reckoned at the largest bundle seen; one at
 * a time until a first has arrived) reach `windowBytes`, except for the next bundle to store: memory is
 * bounded in bytes, whatever size a builder gives its entries. The last bundles (and whatever the final
 * step adds) go in `commit`.
 *
 * What it holds is counted (`PipelineMemory`): the bytes that the verified bundles awaiting their step
 * keep alive (whole underlying buffers, not just the views), from verification until their step is
 * stored and told. The byte window is reckoned in the same bytes (test/sync-memory.test.ts).
 *
 * Any failure (a fetch, a write) stops every worker; writes already done stay done (they are whole,
 * verified steps), nothing after them happens, and the first error is thrown.
 */
import type { VerifiedBundle } from './sync-stage.ts';

export interface BundlePipelineOptions {
  readonly first: number;
  readonly end: number;
  /** Bundles below this index are full; only those go into steps, the rest waits for `commit`. */
  readonly lastFull: number;
  readonly concurrency: number;
  readonly stepBundles: number;
  readonly stepBytes: number;
  readonly windowBundles: number;
  readonly windowBytes: number;
  /** Aborted by the pipeline on failure; aborting it from outside stops the workers. */
  readonly controller: AbortController;
  fetch(index: number): Promise<VerifiedBundle>;
  step(bundles: readonly VerifiedBundle[]): Promise<void>;
  commit(bundles: readonly VerifiedBundle[]): Promise<void>;
  /**
   * After each bundle verified (`stored` false) and each step or commit stored (`stored` true), with
   * the bytes of the verified bundles then waiting for their step.
   */
  onProgress(bundles: readonly VerifiedBundle[], stored: boolean, heldBytes: number): void;
}

/** The most a pipeline held at once: verified bundles awaiting their step, and the bytes they keep alive. */
export interface PipelineMemory {
  readonly peakBundles: number;
  readonly peakBytes: number;
}

/** Bytes a verified bundle keeps alive: the whole buffers under its views (a view pins its parent). */
export function retainedBytes(b: VerifiedBundle): number {
  return b.bundle.buffer.byteLength + b.tile.data.buffer.byteLength + b.hashParts.buffer.byteLength;
}

export async function runBundlePipeline(o: BundlePipelineOptions): Promise<PipelineMemory> {
  const { controller } = o;
  const ready = new Map<number, VerifiedBundle>();
  let next = o.first;
  let storedTo = o.first; // bundles below are written
  let heldBytes = 0; // bytes the bundles in `ready` keep alive (retainedBytes)
  let peakBytes = 0;
  let peakBundles = 0;
  let inFlight = 0;
  let largest = 0; // the largest bundle seen: what a fetch in flight is reckoned at
  let writing: Promise<void> = Promise.resolve();
  let writeError: unknown;
  let windowWaiters: (() => void)[] = [];
  const wakeWindow = () => {
    const waiters = windowWaiters;
    windowWaiters = [];
    for (const wake of waiters) wake();
  };

  // Stores the contiguous verified bundles from storedTo once a step's worth is ready (all, when
  // `final`). Chained, so each write sees what the previous one wrote.
  const flush = (final: boolean): Promise<void> => {
    writing = writing
      .then(async () => {
        if (writeError !== undefined) return;
        const bundles: VerifiedBundle[] = [];
        let bytes = 0;
        for (let i = storedTo; ready.has(i) && (final || i < o.lastFull); i++) {
          bundles.push(ready.get(i)!);
          bytes += ready.get(i)!.bundle.length;
        }
        if (final) await o.commit(bundles);
        // A full byte window stores what it holds (else the fetch it blocks would wait for ever).
        else if (
          bundles.length > 0 &&
          (bundles.length >= o.stepBundles || bytes >= Math.min(o.stepBytes, o.windowBytes - largest))
        )
          await o.step(bundles);
        else return;
        for (const b of bundles) {
          ready.delete(b.index);
          heldBytes -= retainedBytes(b);
        }
        storedTo += bundles.length;
        wakeWindow();
        o.onProgress(bundles, true, heldBytes);
      })
      .catch((err: unknown) => {
        writeError ??= err;
        controller.abort(err);
        wakeWindow();
      });
    return writing;
  };

  const worker = async () => {
    // Whether bundle `i` must wait for room in the window.
    const full = (i: number) =>
      i >= storedTo + o.windowBundles ||
      (i > storedTo && (largest === 0 ? inFlight > 0 : heldBytes + (inFlight + 1) * largest > o.windowBytes));
    while (!controller.signal.aborted) {
      // The next index is taken only once there is room for it, so fetches start in order and what a
      // full window holds is contiguous: a step can always store it.
      while (next < o.end && full(next)) {
        await new Promise<void>((resolve) => windowWaiters.push(resolve));
        if (controller.signal.aborted) return;
      }
      const i = next++;
      if (i >= o.end) return;
      inFlight++;
      let bundle: VerifiedBundle;
      try {
        bundle = await o.fetch(i);
      } finally {
        inFlight--;
      }
      const retained = retainedBytes(bundle);
      largest = Math.max(largest, retained);
      heldBytes += retained;
      peakBytes = Math.max(peakBytes, heldBytes);
      ready.set(i, bundle);
      peakBundles = Math.max(peakBundles, ready.size);
      wakeWindow();
      o.onProgress([bundle], false, heldBytes);
      // Not awaited: fetching goes on while a step is written; the window bounds what waits.
      if (i < o.lastFull) void flush(false);
    }
  };

  const count = Math.max(1, Math.min(o.concurrency, o.end - o.first));
  const workers = Array.from({ length: count }, () =>
    worker().catch((err: unknown) => {
      controller.abort(err);
      wakeWindow();
      throw err;
    }),
  );
  const outcomes = await Promise.allSettled(workers);
  await writing;
  if (writeError !== undefined) throw writeError;
  const failure = outcomes.find((r) => r.status === 'rejected');
  if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
  await flush(true);
  if (writeError !== undefined) throw writeError;
  return { peakBundles, peakBytes };
}
