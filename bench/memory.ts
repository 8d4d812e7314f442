/**
 * `npm run bench -- memory`: the resident memory of a node, beside a bare Node process's measured in the
 * same run: an idle node, and a node following 3 logs (synced from a provider found through the DHT,
 * verified, stored and indexed for the statistics) at its peak while syncing and at rest.
 * Sizes: TRUSTIX_BENCH_MEMORY_ENTRIES, entries per log, comma-separated (default "100000,1000000"; empty:
 * the idle node only).
 */
import '../node/client.ts';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogFixture } from '../test/helpers/log-fixture.ts';
import { type Measurement, suiteResult } from './harness.ts';
import { buildLog, fullNode } from './network.ts';

const SIZES = (process.env['TRUSTIX_BENCH_MEMORY_ENTRIES'] ?? '100000,1000000')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '')
  .map(Number);
const mb = (bytes: number) => Math.round(bytes / 1e6);

/** RSS of `node -e 'setInterval(() => {}, 1e3)'` after `ms`: what any Node process costs. */
async function bareNodeRss(ms: number): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e3)'], { stdio: 'ignore' });
  try {
    await sleep(ms);
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
    return mb(kb * 1024);
  } finally {
    child.kill();
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
      });
    } finally {
      for (const l of logs) await l.destroy();
    }
  }
  return suiteResult('memory', m);
}
