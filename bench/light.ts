/**
 * `npm run bench -- light`: a light node following four logs (mercury, venus, saturn, mars) on loopback,
 * beside a full node following the same four (the baseline, in the same run). Each log is published by its
 * builder node (real LevelDB, real libp2p), which serves it to lookups; the full node, once synced, serves
 * them too.
 *
 * Reported per size (TRUSTIX_BENCH_LIGHT_ENTRIES, comma-separated; default 100000):
 * - `light disk`: the light node's data directory on disk (LevelDB: followed logs, checkpoint history);
 * - `light memory`: what the light node keeps in memory for its logs (lookup cache and decision cache,
 *   estimated bytes); the process's RSS is reported too, but it holds all six nodes;
 * - `cold decision` p50/p99: a path not asked before, all four logs looked up (light) / read (full);
 * - `warm decision` p50/p99: the same paths again (the decision cache).
 * Paths asked: TRUSTIX_BENCH_LIGHT_PATHS (default 300) from the pool, a quarter of them absent from every
 * log. The machine's load average is reported beside the figures.
 */
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { initDataDir, submit } from '../node/client.ts';
import { TrustixNode } from '../node/index.ts';
import { parseStorePath } from '../protocol/index.ts';
import { tempDir } from '../test/helpers/log-fixture.ts';
import { fingerprint, prng, randomNarHash, randomStorePath } from '../test/helpers/synthetic-entries.ts';
import { type Measurement, median, percentile, suiteResult } from './harness.ts';

const SIZES = (process.env['TRUSTIX_BENCH_LIGHT_ENTRIES'] ?? '100000').split(',').map(Number);
const PATHS = Number(process.env['TRUSTIX_BENCH_LIGHT_PATHS'] ?? 300);
const LOGS = ['mercury', 'venus', 'saturn', 'mars'] as const;
const LOOPBACK = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  allowList: ['/ip4/127.0.0.0/ipcidr/8'],
  whitelistIps: ['127.0.0.1'],
  redial: { interval: 100, maxInterval: 1000 },
  localOnly: true,
};

async function startNode(name: string, dirs: string[], bootstrap?: string[], role?: 'bootstrap') {
  const dataDir = await tempDir(`trustix-bench-${name}-`);
  dirs.push(dataDir);
  if (role === undefined) await initDataDir(dataDir, { name });
  const node = new TrustixNode({
    dataDir,
    ...(role ? { role } : {}),
    http: false,
    memory: false,
    sequencer: { intervalMs: 20 },
    follower: { retryDelayMs: 200, maxRetryDelayMs: 1000 },
    p2p: { ...LOOPBACK, ...(bootstrap ? { bootstrap } : {}) },
  });
  await node.start();
  return { node, dataDir };
}

function addressOf(node: TrustixNode): string {
  return node
    .libp2p!.getMultiaddrs()
    .find((a) => a.toString().startsWith('/ip4/127.0.0.1/'))!
    .toString();
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 1_800_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`bench light: ${what} not done within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

async function runSize(entriesPerLog: number): Promise<Measurement[]> {
  const dirs: string[] = [];
  const nodes: TrustixNode[] = [];
  try {
    const boot = await startNode('boot', dirs, undefined, 'bootstrap');
    nodes.push(boot.node);
    const bootstrap = [addressOf(boot.node)];
    const builders: { node: TrustixNode; dataDir: string }[] = [];
    for (const name of LOGS) builders.push(await startNode(name, dirs, bootstrap));
    nodes.push(...builders.map((b) => b.node));
    // One pool of paths, each in most logs with one shared value (saturn sometimes its own).
    const rand = prng(entriesPerLog);
    const pool: string[] = [];
    const load = process.hrtime.bigint();
    for (let start = 0; start < entriesPerLog; start += 5000) {
      const batch: string[][] = LOGS.map(() => []);
      for (let i = start; i < Math.min(entriesPerLog, start + 5000); i++) {
        const path = randomStorePath(rand);
        if (pool.length < 50_000) pool.push(path);
        const honest = fingerprint(path, randomNarHash(rand), 1000 + (i % 10_000), []);
        LOGS.forEach((name, b) => {
          batch[b]!.push(
            name === 'saturn' && i % 5 === 0 ? fingerprint(path, randomNarHash(rand), 7, []) : honest,
          );
        });
      }
      await Promise.all(
        builders.map(async (b, i) => {
          for (let j = 0; j < batch[i]!.length; j += 1000)
            await submit(
              join(b.dataDir, 'trustix.sock'),
              batch[i]!.slice(j, j + 1000).map((entry) => ({ kind: 'entry' as const, entry })),
            );
        }),
      );
    }
    await until('builders sequenced', () => builders.every((b) => b.node.ownLog.size === entriesPerLog));
    const publishS = Number(process.hrtime.bigint() - load) / 1e9;

    const full = await startNode('full-user', dirs, bootstrap);
    const light = await startNode('light-user', dirs, bootstrap);
    nodes.push(full.node, light.node);
    for (const b of builders) {
      await full.node.followed.follow(b.node.keys.log.vkey);
      await light.node.followed.follow(b.node.keys.log.vkey, { light: true });
    }
    const syncStart = process.hrtime.bigint();
    for (const b of builders) {
      const id = b.node.ownLog.logId;
      await until(
        `full copy of ${id}`,
        () => (full.node.follower!.status(id)?.verifiedSize ?? 0) >= entriesPerLog,
      );
      await light.node.light!.whenVerified(id, entriesPerLog);
    }
    const syncS = Number(process.hrtime.bigint() - syncStart) / 1e9;

    const r = prng(7);
    const asked = Array.from({ length: PATHS }, (_, i) =>
      i % 4 === 3 ? randomStorePath(r) : pool[Math.floor(r() * pool.length)]!,
    ).map((p) => parseStorePath(p).hashPart);
    const baselineAsked = Array.from({ length: PATHS }, (_, i) =>
      i % 4 === 3 ? randomStorePath(r) : pool[Math.floor(r() * pool.length)]!,
    ).map((p) => parseStorePath(p).hashPart);
    const loadBefore = loadavg()[0]!;
    const cold: number[] = [];
    let unanswered = 0;
    for (const h of asked)
      cold.push(
        await timed(async () => {
          const d = await light.node.decisions.decide(h);
          if (d.unanswered.length > 0) unanswered++;
        }),
      );
    const warm: number[] = [];
    for (const h of asked) warm.push(await timed(() => light.node.decisions.decide(h)));
    const fullCold: number[] = [];
    for (const h of baselineAsked) fullCold.push(await timed(() => full.node.decisions.decide(h)));
    const fullWarm: number[] = [];
    for (const h of baselineAsked) fullWarm.push(await timed(() => full.node.decisions.decide(h)));
    const loadAfter = loadavg()[0]!;
    const lightDisk = duBytes(light.dataDir);
    const fullDisk = duBytes(full.dataDir);
    const cache = light.node.decisions.cacheSize();
    const stats = (name: string, xs: number[], base: number[], target?: string): Measurement => ({
      name: `${name} (${entriesPerLog} entries/log)`,
      median: round(median(xs)),
      p99: round(percentile(xs, 99)),
      unit: 'ms',
      runs: xs.length,
      baselineMedian: round(median(base)),
      baselineP99: round(percentile(base, 99)),
      ratioToBaseline: round(median(xs) / median(base)),
      ...(target ? { target } : {}),
    });
    return [
      {
        name: `light disk (${entriesPerLog} entries/log)`,
        median: lightDisk,
        unit: 'bytes',
        runs: 1,
        baseline: fullDisk,
        baselineIs: 'the full node’s data directory',
        target: '≤ 5 MB plus the lookup cache',
      },
      {
        name: `light memory (${entriesPerLog} entries/log)`,
        median: cache.bytes,
        unit: 'bytes (decision cache, estimated)',
        runs: 1,
        processRss: process.memoryUsage().rss,
        processRssIs: 'the whole bench process: bootstrap, 4 builders, full and light nodes',
        target: 'RSS ≤ 150 MB (not measured apart: all nodes share one process)',
      },
      stats('cold decision, light (4 lookups)', cold, fullCold, 'p99 ≤ 100 ms'),
      stats('warm decision, light', warm, fullWarm, '≤ 1 ms'),
      {
        name: `setup (${entriesPerLog} entries/log)`,
        median: round(publishS),
        unit: 's (publish)',
        runs: 1,
        syncAndVerifySeconds: round(syncS),
        unansweredColdDecisions: unanswered,
        loadAverage: { before: loadBefore, after: loadAfter },
      },
    ];
  } finally {
    for (const n of nodes.reverse()) await n.stop().catch(() => {});
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

export async function run() {
  const measurements: Measurement[] = [];
  for (const size of SIZES) measurements.push(...(await runSize(size)));
  return suiteResult('light', measurements);
}
