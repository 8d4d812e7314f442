/**
 * `npm run bench -- memory`: the resident memory of a node, beside a bare Node process's measured in the
 * same run: an idle node (the benchmark's own and a real `trustix start`), and a node following 3 logs (synced from a provider found through the DHT,
 * verified, stored and indexed for the statistics) at its peak while syncing and at rest.
 * Sizes: TRUSTIX_BENCH_MEMORY_ENTRIES, entries per log, comma-separated (default "100000,1000000"; empty:
 * the idle node only). The followers' settings (bench/network-follower.ts): TRUSTIX_BENCH_DATABASE
 * (JSON, LevelDB's DatabaseInit over NODE_DATABASE, e.g. '{"maxFileSize":8388608}'),
 * TRUSTIX_BENCH_RELEASER=0 (no memory releaser), TRUSTIX_BENCH_ALLOCATOR=0 (no allocator policy). The
 * at-rest figures list every release with its phase, and where the resident set is (LevelDB's mapped
 * tables, glibc's heap, V8's heap).
 */
import '../node/client.ts';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DAEMON_ENVIRONMENT } from '../node/index.ts';
import { build, isFresh } from '../scripts/build.mjs';
import { type LogFixture, tempDir } from '../test/helpers/log-fixture.ts';
import { type Measurement, suiteResult } from './harness.ts';
import { buildLog, fullNode } from './network.ts';

const SIZES = (process.env['TRUSTIX_BENCH_MEMORY_ENTRIES'] ?? '100000,1000000')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '')
  .map(Number);
const mb = (bytes: number) => Math.round(bytes / 1e6);

/** Resident set of a process, in MB. */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return mb(Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]) * 1024);
}

/** RSS of `node -e 'setInterval(() => {}, 1e3)'` after `ms`: what any Node process costs. */
async function bareNodeRss(ms: number): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e3)'], { stdio: 'ignore' });
  try {
    await sleep(ms);
    return await rssOf(child.pid!);
  } finally {
    child.kill();
  }
}

/**
 * RSS of `trustix start` run as the systemd unit runs it (docs/deploy/trustix.service: one-value flags,
 * so no yargs, cli/fast-path.ts; the rest in its config file, here loopback only), `ms` after it started.
 */
async function daemonRss(ms: number): Promise<number> {
  if (!isFresh()) await build();
  const dir = await tempDir('trustix-bench-start-');
  const config = join(dir, 'config.json');
  await mkdir(join(dir, 'data'), { mode: 0o700 });
  await writeFile(
    config,
    JSON.stringify({ http: '127.0.0.1:0', listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [] }),
  );
  const bin = fileURLToPath(new URL('../cli/bin/trustix.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'start', '--data-dir', join(dir, 'data'), '--config', config], {
    stdio: 'ignore',
    env: { ...process.env, ...DAEMON_ENVIRONMENT },
  });
  try {
    await sleep(ms);
    return await rssOf(child.pid!);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run() {
  const m: Measurement[] = [];
  const bare = await bareNodeRss(5000);
  m.push({
    name: "baseline: RSS of a bare Node process (node -e 'setInterval(() => {}, 1e3)')",
    median: bare,
    unit: 'MB',
    runs: 1,
  });
  const idle = await fullNode([], { env: { TRUSTIX_BENCH_REST_MS: '20000' } });
  m.push({
    name: 'RSS of an idle node (no log followed), 20 s after start',
    median: idle.rssMb,
    unit: 'MB',
    runs: 1,
    target: '<= 90 MB',
    overBareMb: idle.rssMb - bare,
  });
  const daemon = await daemonRss(20_000);
  m.push({
    name: 'RSS of an idle `trustix start` as the systemd unit runs it (no log followed), 20 s after start',
    median: daemon,
    unit: 'MB',
    runs: 1,
    target: '<= 90 MB',
    overBareMb: daemon - bare,
  });
  for (const n of SIZES) {
    const logs: LogFixture[] = [];
    try {
      for (let i = 0; i < 3; i++) logs.push(await buildLog(n, 2 + i));
      const r = await fullNode(logs, { env: { TRUSTIX_BENCH_REST_MS: '60000' } });
      m.push({
        name: `peak RSS of a node following 3 logs of ${n} entries while it syncs and indexes them`,
        median: r.peakRssMb,
        unit: 'MB',
        runs: 1,
        target: '<= 200 MB',
        overBareMb: r.peakRssMb - bare,
        peakHeapUsedMb: r['peakHeapUsedMb'],
        peakHeapTotalMb: r['peakHeapTotalMb'],
        peakExternalMb: r['peakExternalMb'],
        peakArrayBuffersMb: r['peakArrayBuffersMb'],
        // The kernel's split: anonymous memory, and LevelDB's table files mapped in (reclaimable page cache).
        peakRssAnonMb: r['peakRssAnonMb'],
        peakRssFileMb: r['peakRssFileMb'],
        rssWhenSyncedMb: r.syncedRssMb,
        syncSeconds: r.seconds,
        indexedSeconds: r['indexedSeconds'],
        // The price of a small heap is more collections: CPU of the node until indexed.
        cpuSeconds: r['cpuSeconds'],
      });
      m.push({
        name: `RSS at rest of a node following 3 logs of ${n} entries, synced and indexed`,
        median: r.rssMb,
        unit: 'MB',
        runs: 1,
        target: '<= 120 MB',
        overBareMb: r.rssMb - bare,
        heapUsedMb: r['heapUsedMb'],
        externalMb: r['externalMb'],
        releasedAtRestMb: r['releasedMb'],
        // Every release of the run, with its phase: one while syncing sets the growth a rest is measured from.
        releases: r.releases,
        // Where it is: LevelDB's mapped tables, glibc's heap (in use, free), V8's heap.
        partsWhenSynced: r.whenSynced,
        partsAtRest: r.atRest,
        rssAnonMb: r['rssAnonMb'],
        rssFileMb: r['rssFileMb'],
      });
    } finally {
      for (const l of logs) await l.destroy();
    }
  }
  return suiteResult('memory', m);
}
