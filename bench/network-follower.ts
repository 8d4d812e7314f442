/**
 * Child process of the network and memory benchmarks: a real node (TrustixNode) that follows the logs
 * named on the command line, with the given peer as its bootstrap (and, through the DHT, provider); prints
 * as JSON, once every log is synced and its reproducibility statistics are indexed: its RSS when the syncs
 * ended, the highest seen on the way (with the V8 heap, external and array buffer figures at their
 * highest), and its RSS at rest (`restMs` later, or once the node gave memory back, whichever is first).
 * Without logs it is an idle node: it reports its RSS `restMs` after it started (not earlier, when it
 * released memory). Run compiled
 * (scripts/build.mjs), as cli/bin/trustix.js runs a node: it imports nothing the build does not compile.
 *
 * Environment: TRUSTIX_BENCH_REST_MS (default 20,000), TRUSTIX_BENCH_HEAP_SNAPSHOT (a directory: heap
 * snapshots written midway through the syncs, when they end, and at rest).
 */
import '../node/client.ts';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { initDataDir } from '../node/client.ts';
import type { MemoryRelease } from '../node/index.ts';
import { TrustixNode } from '../node/index.ts';

const [bootstrap, ...vkeys] = process.argv.slice(2);
const restMs = Number(process.env['TRUSTIX_BENCH_REST_MS'] ?? 20_000);
const snapshots = process.env['TRUSTIX_BENCH_HEAP_SNAPSHOT'];
const mb = (bytes: number) => Math.round(bytes / 1e6);
const dataDir = await mkdtemp(join(tmpdir(), 'trustix-bench-follower-'));
await initDataDir(dataDir, { name: 'bench-follower-1' });
const node = new TrustixNode({
  dataDir,
  http: { host: '127.0.0.1', port: 0 },
  p2p: {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    allowList: ['/ip4/127.0.0.0/ipcidr/8'],
    whitelistIps: ['127.0.0.1'],
    bootstrap: [bootstrap!],
  },
  follower: { retryDelayMs: 500, maxRetryDelayMs: 2000 },
  ...(process.env['TRUSTIX_BENCH_RELEASER'] === '0' && { memory: false }),
  ...(process.env['TRUSTIX_BENCH_ALLOCATOR'] === '0' && { allocator: false }),
  ...(process.env['TRUSTIX_BENCH_DATABASE'] && {
    database: JSON.parse(process.env['TRUSTIX_BENCH_DATABASE']),
  }),
});
await node.start();
const started = performance.now();
/** Every release the node made, when (s after start) and in which phase: what the rest figures rest on. */
let phase: 'syncing' | 'indexing' | 'resting' = 'syncing';
const releases: { at: number; phase: string; beforeMb: number; afterMb: number }[] = [];
node.memory?.addEventListener('released', (e) => {
  const r = (e as CustomEvent<MemoryRelease>).detail;
  releases.push({
    at: Number(((performance.now() - started) / 1000).toFixed(1)),
    phase,
    beforeMb: mb(r.before),
    afterMb: mb(r.after),
  });
});
const peak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
const sample = () => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peak) as (keyof typeof peak)[]) peak[k] = Math.max(peak[k], m[k]);
};
/**
 * The kernel's split of the resident set: anonymous memory (heaps, LevelDB's caches, glibc's arenas) and
 * file pages mapped into the process (LevelDB maps its table files: page cache the kernel can take back).
 */
const residentSplit = (): { anon: number; file: number } => {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') };
};
/**
 * Where the resident set is, for the memory budget (docs/ARCHITECTURE.md): LevelDB's table files mapped
 * in (the rest of the file pages are Node's own binary and libraries), glibc's heap (in use: LevelDB's
 * memtables, block cache and open tables' index blocks, array buffers' backing stores, Node's own; free:
 * what a trim may give back), and V8's heap.
 */
let mallinfoFn: Promise<(() => Record<string, number>) | undefined> | undefined;
/** glibc's mallinfo2(), through koffi; undefined where libc is not glibc. */
function mallinfo(): Promise<(() => Record<string, number>) | undefined> {
  mallinfoFn ??= (async () => {
    try {
      const koffi = await import('koffi');
      const fields = ['arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks'];
      const struct = koffi.struct(
        'mallinfo2_t',
        Object.fromEntries([...fields, 'fordblks', 'keepcost'].map((f) => [f, 'size_t'])),
      );
      const fn = koffi.load('libc.so.6').func('mallinfo2', struct, []);
      return () => fn() as Record<string, number>;
    } catch {
      return undefined;
    }
  })();
  return mallinfoFn;
}

async function residentParts(): Promise<Record<string, number>> {
  let tables = 0;
  let mapping = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) mapping = line;
    else if (line.startsWith('Rss:') && mapping.endsWith('.ldb'))
      tables += Number(line.split(/\s+/)[1]) * 1024;
  }
  const v8 = getHeapStatistics();
  const parts: Record<string, number> = {
    tableFilesMb: mb(tables),
    v8HeapMb: mb(v8.total_physical_size),
    v8HeapUsedMb: mb(v8.used_heap_size),
    arrayBuffersMb: mb(process.memoryUsage().arrayBuffers),
  };
  const m = (await mallinfo())?.();
  if (m !== undefined) {
    parts['mallocInUseMb'] = mb(Number(m['uordblks']) + Number(m['hblkhd']));
    parts['mallocFreeMb'] = mb(Number(m['fordblks']));
  }
  return parts;
}
const peakSplit = { anon: 0, file: 0 };
const sampleSplit = () => {
  const r = residentSplit();
  peakSplit.anon = Math.max(peakSplit.anon, r.anon);
  peakSplit.file = Math.max(peakSplit.file, r.file);
};
const sampler = setInterval(() => {
  sample();
  sampleSplit();
}, 100);

/** Resolves after `ms`, or earlier when the node gives memory back. */
async function rest(ms: number): Promise<MemoryRelease | undefined> {
  return new Promise<MemoryRelease | undefined>((resolve) => {
    const timeout = setTimeout(() => resolve(undefined), ms);
    node.memory?.addEventListener(
      'released',
      (e) => {
        clearTimeout(timeout);
        resolve((e as CustomEvent<MemoryRelease>).detail);
      },
      { once: true },
    );
  });
}

let report: Record<string, unknown>;
if (vkeys.length === 0) {
  // Idle: `restMs` after start, whatever the node did meanwhile (its release after start included).
  await new Promise((resolve) => setTimeout(resolve, restMs));
  const m = process.memoryUsage();
  report = { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), externalMb: mb(m.external) };
} else {
  for (const [i, vkey] of vkeys.entries()) await node.followed.follow(vkey, { name: `log-${i}` });
  let entries = 0;
  let midway = false;
  for (;;) {
    const statuses = node.follower!.statuses();
    const done = statuses.reduce((n, s) => n + s.verifiedSize, 0);
    const total = statuses.reduce((n, s) => n + s.size, 0);
    if (snapshots !== undefined && !midway && statuses.length === vkeys.length && done > total / 2) {
      midway = true;
      writeHeapSnapshot(join(snapshots, 'syncing.heapsnapshot'));
    }
    if (
      statuses.length === vkeys.length &&
      statuses.every((s) => s.verifiedSize > 0 && s.verifiedSize === s.size)
    ) {
      entries = statuses.reduce((n, s) => n + s.verifiedSize, 0);
      break;
    }
    // A follow asks sources at once; nudge again while the DHT is still learning who provides what.
    for (const s of statuses)
      if (s.verifiedSize === 0 && s.state !== 'syncing') await node.follower!.refresh(s.logId);
    await new Promise((r) => setTimeout(r, 500));
  }
  const seconds = (performance.now() - started) / 1000;
  const synced = process.memoryUsage();
  const partsWhenSynced = await residentParts();
  phase = 'indexing';
  await node.stats.idle();
  phase = 'resting';
  const indexedSeconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage();
  const cpuAtIndexed = cpu.user + cpu.system;
  if (snapshots !== undefined) writeHeapSnapshot(join(snapshots, 'synced.heapsnapshot'));
  sample();
  const peakOfSync = { ...peak };
  const released = await rest(restMs);
  const atRest = process.memoryUsage();
  if (snapshots !== undefined) writeHeapSnapshot(join(snapshots, 'rest.heapsnapshot'));
  const restSplit = residentSplit();
  const partsAtRest = await residentParts();
  report = {
    rssMb: mb(atRest.rss),
    rssAnonMb: mb(restSplit.anon),
    rssFileMb: mb(restSplit.file),
    peakRssAnonMb: mb(peakSplit.anon),
    peakRssFileMb: mb(peakSplit.file),
    heapUsedMb: mb(atRest.heapUsed),
    externalMb: mb(atRest.external),
    syncedRssMb: mb(synced.rss),
    peakRssMb: mb(peakOfSync.rss),
    peakHeapUsedMb: mb(peakOfSync.heapUsed),
    peakHeapTotalMb: mb(peakOfSync.heapTotal),
    peakExternalMb: mb(peakOfSync.external),
    peakArrayBuffersMb: mb(peakOfSync.arrayBuffers),
    releasedMb: released === undefined ? 0 : mb(released.before - released.after),
    releases,
    whenSynced: partsWhenSynced,
    atRest: partsAtRest,
    entries,
    seconds: Number(seconds.toFixed(1)),
    indexedSeconds: Number(indexedSeconds.toFixed(1)),
    // CPU of the whole process until indexed and at rest: steadier than the times on a shared machine.
    cpuSeconds: Number((cpuAtIndexed / 1e6).toFixed(1)),
  };
}
clearInterval(sampler);
await node.stop();
await rm(dataDir, { recursive: true, force: true });
process.stdout.write(JSON.stringify(report));
