/**
 * Gives memory back to the operating system once the node is at rest after a burst of work (a sync, an
 * import, a large NAR). Neither allocator does so by itself: V8 keeps the heap a burst grew until its
 * next major collection, which an idle node may not reach for hours, and glibc keeps what the burst
 * freed inside its arenas, fragmented below the top of the heap where its automatic trim cannot reach.
 * With the node's allocator policy (node/runtime/allocator-policy.ts) a sync no longer makes either grow
 * much, but glibc still returns free memory only from the top of an arena: what a burst freed in the
 * middle stays resident until malloc_trim, which is why this is still needed (after a node synced three
 * logs of 100,000 entries, a release still gave back 21-29 MB, e.g. 140 -> 119 MB).
 *
 * At rest means: the main thread was busy for less than `maxUtilization` of the last `intervalMs`. A rest
 * releases when there was a burst since the last release: the resident set is at least `minGrowthBytes`
 * above what it was after that release, or the main thread worked for `minBusyMs` since. Growth alone
 * misses bursts: a release in a lull of a long sync (the node waiting on its sources) leaves a high
 * mark that the rest after the sync stays under, since what the sync frees later stays resident without
 * growing the resident set (3 logs of 100,000 entries on a loaded machine: a release 95 s into the
 * sync, 131 -> 116 MB, then none at rest, 128 MB). Nor does a node release while it says it is working
 * (`working`: a sync running), since such a release gives back little and costs collections. Starting a node is a burst of its own (some 900 modules parsed and run, the store opened,
 * libp2p started): by default the first rest after start releases whatever the growth (an idle node
 * 92 -> 86-87 MB).
 * A release is then:
 *  - full garbage collections, repeated while the heap shrinks (each compacts only part of a fragmented
 *    old space), with the event loop running between them; and again 6 s later, when V8 sees the low
 *    allocation rate it needs before it shrinks its young generation (about 30 MB after a sync);
 *  - a pause for V8 to free the collected array buffers' memory, which it does off the main thread;
 *  - glibc's malloc_trim(0), called through koffi (a maintained FFI with prebuilt binaries), which
 *    returns every free page of every arena. Where libc is not glibc, or koffi cannot load, a release
 *    is the collections alone.
 */

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';

const log = logger('trustix:memory');

export interface MemoryReleaserInit {
  /** How often the node is checked for rest, in ms. Default 5,000. */
  readonly intervalMs?: number;
  /** Busy share of the main thread over one interval below which the node is at rest. Default 0.05. */
  readonly maxUtilization?: number;
  /** Growth of the resident set since the last release that makes one worth it. Default 32 MiB. */
  readonly minGrowthBytes?: number;
  /**
   * Main-thread work since the last release that makes one worth it, in ms: a burst that did not grow
   * the resident set (see above). Default 10,000: a sync of a few thousand entries; an idle node, whose
   * main thread works well under 1% of the time, releases about once an hour.
   */
  readonly minBusyMs?: number;
  /** Most full collections in one pass of a release. Default 8. */
  readonly maxCollections?: number;
  /** Wait before a release's second pass of collections, in ms. Default 6,000 (see run()). */
  readonly secondPassDelayMs?: number;
  /** Wait between the collections and the trim, in ms, for V8 to free array buffers. Default 1,000. */
  readonly trimDelayMs?: number;
  /** Release at the first rest after start, whatever the growth (start is a burst). Default true. */
  readonly afterStart?: boolean;
  /**
   * Whether the node is in a burst that has not ended, however idle its main thread (a sync waiting on
   * its sources): no release then. Default: never.
   */
  readonly working?: () => boolean;
}

/** A collection that shrinks the heap by less than this ends a release's collections. */
const MIN_COLLECTED_BYTES = 1024 * 1024;

/** What one release did: resident set sizes before and after, in bytes. */
export interface MemoryRelease {
  readonly before: number;
  readonly after: number;
  /** Whether glibc's free pages were returned too (malloc_trim), not only the JavaScript heap's. */
  readonly trimmed: boolean;
}

export interface MemoryReleaserEvents {
  released: CustomEvent<MemoryRelease>;
}

export class MemoryReleaser extends TypedEventEmitter<MemoryReleaserEvents> {
  private readonly intervalMs: number;
  private readonly maxUtilization: number;
  private readonly minGrowthBytes: number;
  private readonly minBusyMs: number;
  private readonly maxCollections: number;
  private readonly trimDelayMs: number;
  private readonly secondPassDelayMs: number;
  private readonly afterStart: boolean;
  private readonly working: (() => boolean) | undefined;
  private releasing: Promise<MemoryRelease> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private utilization = performance.eventLoopUtilization();
  private baseline = 0;
  /** The main thread's busy time (event loop utilization's `active`, ms) when the last release ended. */
  private busyBaseline = 0;
  private collect: (() => void) | undefined;
  private trim: (() => void) | undefined;

  constructor(init: MemoryReleaserInit = {}) {
    super();
    this.intervalMs = init.intervalMs ?? 5000;
    this.maxUtilization = init.maxUtilization ?? 0.05;
    this.minGrowthBytes = init.minGrowthBytes ?? 32 * 1024 * 1024;
    this.minBusyMs = init.minBusyMs ?? 10_000;
    this.maxCollections = init.maxCollections ?? 8;
    this.trimDelayMs = init.trimDelayMs ?? 1000;
    this.secondPassDelayMs = init.secondPassDelayMs ?? 6000;
    this.afterStart = init.afterStart ?? true;
    this.working = init.working;
  }

  async start(): Promise<void> {
    if (this.timer !== undefined) return;
    this.collect = exposeGc();
    this.trim = await loadMallocTrim();
    this.baseline = this.afterStart ? 0 : process.memoryUsage.rss();
    this.utilization = performance.eventLoopUtilization();
    this.busyBaseline = this.utilization.active;
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Releases now, whatever the load (what a rest check does); one release at a time. */
  release(): Promise<MemoryRelease> {
    this.releasing ??= this.run().finally(() => {
      this.releasing = undefined;
    });
    return this.releasing;
  }

  private async run(): Promise<MemoryRelease> {
    const before = process.memoryUsage.rss();
    await this.collectAll();
    // V8 shrinks its young generation only in a collection that sees a low allocation rate over the
    // last 5 s, which the burst's own last collections may still fall in: so once more, later.
    await sleep(this.secondPassDelayMs);
    await this.collectAll();
    if (this.trim !== undefined) {
      await sleep(this.trimDelayMs);
      this.trim();
    }
    const after = process.memoryUsage.rss();
    this.baseline = after;
    this.busyBaseline = performance.eventLoopUtilization().active;
    const release = { before, after, trimmed: this.trim !== undefined };
    log('released %d MB (%d -> %d MB)', mb(before - after), mb(before), mb(after));
    this.dispatchEvent(new CustomEvent('released', { detail: release }));
    return release;
  }

  /** Full collections while the heap shrinks, the event loop running between them. */
  private async collectAll(): Promise<void> {
    for (let round = 0; round < this.maxCollections && this.collect !== undefined; round++) {
      const heap = getHeapStatistics().total_heap_size;
      this.collect();
      await sleep(10);
      if (heap - getHeapStatistics().total_heap_size < MIN_COLLECTED_BYTES) break;
    }
  }

  private check(): void {
    const busy = performance.eventLoopUtilization(this.utilization).utilization;
    this.utilization = performance.eventLoopUtilization();
    if (this.releasing !== undefined || busy >= this.maxUtilization || this.working?.() === true) return;
    const grown = process.memoryUsage.rss() >= this.baseline + this.minGrowthBytes;
    const worked = this.utilization.active - this.busyBaseline >= this.minBusyMs;
    if (!grown && !worked) return;
    this.release().catch((err: unknown) => log.error('releasing memory: %s', err));
  }
}

function mb(bytes: number): number {
  return Math.round(bytes / 1e6);
}

/**
 * V8's full collection. Without --expose-gc it is only reachable by turning the flag on, taking `gc`
 * from a fresh context (where V8 installs it), and turning it off again so that no later context, such
 * as a decider script's, gets it.
 */
function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as () => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** glibc's malloc_trim(0), or undefined where there is no glibc or koffi cannot load. */
async function loadMallocTrim(): Promise<(() => void) | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    const koffi = await import('koffi');
    const mallocTrim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
    return () => void mallocTrim(0);
  } catch (err) {
    log('no malloc_trim here (%s): releases collect the JavaScript heap only', err);
    return undefined;
  }
}
