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
import { writeHeapSnapshot } from 'node:v8';
import { initDataDir } from '../node/client.ts';
import type { MemoryRelease } from '../node/index.ts';
import { TrustixNode } from '../node/index.ts';

const [bootstrap, ...vkeys] = process.argv.slice(2);
const restMs = Number(process.env['TRUSTIX_BENCH_REST_MS'] ?? 20_000);
const snapshots = process.env['TRUSTIX_BENCH_HEAP_SNAPSHOT'];
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
const mb = (bytes: number) => Math.round(bytes / 1e6);

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
  await node.stats.idle();
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
