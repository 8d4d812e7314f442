/**
 * `npm run bench -- light`: a light node following four logs (mercury, venus, saturn, mars) held by two
 * full providers on loopback, beside a full node holding the same four (the baseline, in the same run).
 * The logs are written straight into the first provider's LevelDB and the closed database is copied to
 * the second provider and to the baseline (bench/light-seed.ts); the builders never run. The light node
 * runs in a child process (bench/light-worker.ts, compiled), so its RSS is its own and its event loop shares
 * nothing with the providers'; the bootstrap node, the providers, the baseline and the upstream binary
 * cache (a loopback HTTP server answering the asked paths' narinfos) run in this process.
 *
 * Reported per size (TRUSTIX_BENCH_LIGHT_ENTRIES, comma-separated; default 100000,2000000, the two
 * sizes in one run: ~20 minutes on 2 cores, most of it writing and indexing the 2,000,000-entry logs, and
 * 1.3 GB of disk per copy, three copies; `100000` alone takes under a minute):
 * - `light disk`: the light node's data directory (LevelDB: followed logs, checkpoint history), beside
 *   the baseline's;
 * - `light RSS`: the light node's process, after the decisions below;
 * - `cold decision` p50/p99: a path not asked before, all four logs looked up (light) / read (baseline);
 *   beside it `loopbackHttpGet`, a plain HTTP GET from the light node's process to this one, right after;
 * - `warm decision`: the same paths again (the decision cache);
 * - `narinfo cold` p50/p99: GET /HASH.narinfo on the node's substituter for a path not asked before
 *   (decision, upstream narinfo fetch, re-signing), one request at a time; the baseline is the full node's.
 * Paths asked: TRUSTIX_BENCH_LIGHT_PATHS (default 300) for decisions and as many again for narinfos, from
 * paths spread over the whole log, a quarter of them absent from every log. The machine's load average
 * is reported beside the figures.
 *
 * The settings (environment variables: the sizes, the paths asked): bench/light-settings.ts; the
 * upstream binary cache: bench/light-upstream.ts; the light node's process and its IPC:
 * bench/light-worker-process.ts; the figures as measurements: bench/light-report.ts.
 */
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { initDataDir } from '../node/client.ts';
import { parseDeciderSpec, TrustixNode } from '../node/index.ts';
import { generateNixSecretKey, logKeyOf, parseStorePath } from '../protocol/index.ts';
import { tempDir } from '../test/helpers/log-fixture.ts';
import { prng, randomStorePath } from '../test/helpers/synthetic-entries.ts';
import { type Measurement, suiteResult } from './harness.ts';
import { report, round } from './light-report.ts';
import { copyDatabase, seedProvider } from './light-seed.ts';
import { LOGS, PATHS, SIZES } from './light-settings.ts';
import { serveUpstream } from './light-upstream.ts';
import { type Decided, type LightWorker, lightWorker, stopLightWorker } from './light-worker-process.ts';

const LOOPBACK = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  allowList: ['/ip4/127.0.0.0/ipcidr/8'],
  whitelistIps: ['127.0.0.1'],
  redial: { interval: 100, maxInterval: 1000 },
  localOnly: true,
};

function startNode(dataDir: string, options: { bootstrap?: string[]; role?: 'bootstrap' }): TrustixNode {
  return new TrustixNode({
    dataDir,
    ...(options.role ? { role: options.role } : {}),
    http: false,
    memory: false,
    p2p: { ...LOOPBACK, ...(options.bootstrap ? { bootstrap: options.bootstrap } : {}) },
  });
}

function addressOf(node: TrustixNode): string {
  return node
    .libp2p!.getMultiaddrs()
    .find((a) => a.toString().startsWith('/ip4/127.0.0.1/'))!
    .toString();
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

const seconds = (since: bigint) => round(Number(process.hrtime.bigint() - since) / 1e9);

async function narinfoTimes(base: string, hashParts: readonly string[]): Promise<number[]> {
  const ms: number[] = [];
  for (const h of hashParts) {
    const t = process.hrtime.bigint();
    const res = await fetch(`${base}/${h}.narinfo`);
    await res.arrayBuffer();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (res.status !== 200 && res.status !== 404) throw new Error(`narinfo ${h}: HTTP ${res.status}`);
  }
  return ms;
}

async function runSize(entriesPerLog: number): Promise<Measurement[]> {
  const dirs: string[] = [];
  const nodes: TrustixNode[] = [];
  const dir = async (name: string, init = true) => {
    const d = await tempDir(`trustix-bench-light-${name}-`);
    dirs.push(d);
    if (init) await initDataDir(d, { name });
    return d;
  };
  let worker: LightWorker | undefined;
  let upstream: Awaited<ReturnType<typeof serveUpstream>> | undefined;
  try {
    const logs = LOGS.map((name) => ({ name, secret: generateNixSecretKey(name) }));
    const seedStart = process.hrtime.bigint();
    const providerDirs = [await dir('provider-1'), await dir('provider-2')];
    const fullDir = await dir('full-user');
    const pool = await seedProvider(providerDirs[0]!, logs, entriesPerLog, 4 * PATHS);
    const seedS = seconds(seedStart);
    const copyStart = process.hrtime.bigint();
    await copyDatabase(providerDirs[0]!, providerDirs[1]!);
    await copyDatabase(providerDirs[0]!, fullDir);
    const copyS = seconds(copyStart);

    // Asked: decisions and narinfos of the light node, and of the baseline, each a path not asked before.
    const r = prng(7);
    const shuffledPool = pool.map((p) => ({ p, k: r() })).sort((a, b) => a.k - b.k);
    const sets = [0, 1, 2, 3].map((s) =>
      Array.from({ length: PATHS }, (_, i) =>
        i % 4 === 3
          ? parseStorePath(randomStorePath(r)).hashPart
          : parseStorePath(shuffledPool[(s * PATHS + i) % shuffledPool.length]!.p.path).hashPart,
      ),
    );
    const [lightAsked, lightNarinfo, fullAsked, fullNarinfo] = sets as [
      string[],
      string[],
      string[],
      string[],
    ];
    upstream = await serveUpstream(pool.map((p) => p.entry));

    const boot = startNode(await dir('boot', false), { role: 'bootstrap' });
    nodes.push(boot);
    await boot.start();
    const bootstrap = [addressOf(boot)];
    for (const d of providerDirs) {
      const provider = startNode(d, { bootstrap });
      nodes.push(provider);
      await provider.start();
    }
    const full = new TrustixNode({
      dataDir: fullDir,
      http: { host: '127.0.0.1', port: 0 },
      memory: false,
      p2p: false,
      vote: [parseDeciderSpec('threshold 3/4')],
      upstreams: [upstream.url],
    });
    nodes.push(full);
    await full.start();

    // The copies were written behind the statistics' back: each node indexes them once started. Measured
    // after that, or the providers' event loops would be busy with it (at 1,000,000 entries a log it ran
    // through the whole measurement and tripled the cold latency).
    const statsStart = process.hrtime.bigint();
    await Promise.all(nodes.filter((n) => n !== boot).map((n) => n.stats.idle()));
    const statsS = seconds(statsStart);
    const lightDir = await dir('light-user');
    const followStart = process.hrtime.bigint();
    worker = await lightWorker();
    const { http } = await worker.ask<{ http: { host: string; port: number } }>(
      {
        start: {
          dataDir: lightDir,
          bootstrap,
          logs: logs.map((l) => ({ name: l.name, vkey: logKeyOf(l.secret).vkey })),
          upstream: upstream.url,
          entriesPerLog,
        },
      },
      'started',
    );
    const followS = seconds(followStart);

    const loadBefore = loadavg();
    const cold = await worker.ask<Decided>({ decide: lightAsked }, 'decided');
    // The baseline of the cold decisions, measured right after them: a plain HTTP GET from the light
    // node's process to this one's upstream server (two event loops and loopback, nothing else).
    const get = await worker.ask<{ ms: number[] }>(
      { get: { url: `${upstream.url}/nix-cache-info`, n: PATHS } },
      'got',
    );
    const warm = await worker.ask<Decided>({ decide: lightAsked }, 'decided');
    const lightUrl = `http://${http.host}:${http.port}`;
    const narinfoCold = await narinfoTimes(lightUrl, lightNarinfo);
    const narinfoWarm = await narinfoTimes(lightUrl, lightNarinfo);
    const timeFull = async (hashParts: readonly string[]) => {
      const ms: number[] = [];
      for (const h of hashParts) {
        const t = process.hrtime.bigint();
        await full.decisions.decide(h);
        ms.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      return ms;
    };
    const fullCold = await timeFull(fullAsked);
    const fullWarm = await timeFull(fullAsked);
    const fullAddress = full.httpAddress();
    const fullUrl = `http://${fullAddress.host}:${fullAddress.port}`;
    const fullNarinfoCold = await narinfoTimes(fullUrl, fullNarinfo);
    const fullNarinfoWarm = await narinfoTimes(fullUrl, fullNarinfo);
    const loadAfter = loadavg();
    const usage = await worker.ask<{ rss: number; heapUsed: number; decisionCacheBytes: number }>(
      { usage: true },
      'usage',
    );
    const fullMemory = process.memoryUsage();
    const lightDisk = duBytes(lightDir);
    const fullDisk = duBytes(fullDir);
    return report({
      entriesPerLog,
      seedS,
      copyS,
      statsS,
      followS,
      loadBefore,
      loadAfter,
      cold,
      get,
      warm,
      narinfoCold,
      narinfoWarm,
      fullCold,
      fullWarm,
      fullNarinfoCold,
      fullNarinfoWarm,
      usage,
      fullMemory,
      lightDisk,
      fullDisk,
    });
  } finally {
    if (worker !== undefined) await stopLightWorker(worker);
    for (const n of nodes.reverse()) await n.stop().catch(() => {});
    await upstream?.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

export async function run() {
  const measurements: Measurement[] = [];
  for (const size of SIZES) measurements.push(...(await runSize(size)));
  return suiteResult('light', measurements);
}
