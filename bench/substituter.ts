/**
 * `npm run bench -- substituter`: the local substituter under load. Four followed builder logs (mercury,
 * venus, saturn, mars) on real LevelDB hold the same synthetic paths, decided by `threshold 3/4`; the
 * upstream cache is a plain static node:http server on loopback serving one narinfo per path (the
 * narinfo files are written to a temp dir and loaded into memory: the server answers from a Map).
 * autocannon (in a worker thread, so the client does not share the server's event loop) sends narinfo
 * requests over 10 keep-alive connections, pipelining 1:
 * - `narinfo warm`: paths all requested once before (decision and served narinfo cached);
 * - `narinfo cold`: every request a path never requested before (fixed amount per run: the paths left);
 * - `narinfo 404 (undecided)`: a fresh made-up hash part per request (no log holds it);
 * - `static baseline`: the same narinfo files straight from the static upstream server;
 * and, in-process, DeciderChain.decide over 4 agreeing LogVotes and Decisions.decide from its cache.
 * Each load reports req/s and latency (p50, p99: autocannon, whole ms) and, as the machine may be
 * shared, the main thread's (the servers') CPU time per request and how long it waited for a CPU
 * (/proc/self/task/PID/schedstat: Linux only), and the CPU of all other threads per request (the client,
 * LevelDB reads in libuv's pool, GC helpers).
 * Sizes: TRUSTIX_BENCH_SUBST_PATHS (default 20,000), TRUSTIX_BENCH_SUBST_SECONDS (default 5).
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseDeciderSpec } from '../node/index.ts';
import {
  encodeNix32,
  formatNarinfo,
  narinfoFingerprint,
  parseEntry,
  parseNarinfo,
  parseStorePath,
} from '../protocol/index.ts';
import { tempDir } from '../test/helpers/log-fixture.ts';
import { syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { openVoteFixture, type VoteFixture } from '../test/helpers/vote-fixture.ts';
import { type Measurement, median, rate, suiteResult } from './harness.ts';

const PATHS = Number(process.env['TRUSTIX_BENCH_SUBST_PATHS'] ?? 20_000);
const SECONDS = Number(process.env['TRUSTIX_BENCH_SUBST_SECONDS'] ?? 5);
const CONNECTIONS = 10;
const RUNS = 3;
/** Paths of the warm set (and of the baseline): requested once before the warm runs. */
const WARM_PATHS = Math.min(2_000, Math.floor(PATHS / 10));
const LOGS = ['mercury', 'venus', 'saturn', 'mars'];

// ---- autocannon (no bundled types): the part of its programmatic API used here ----

interface Histogram {
  readonly average: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly total: number;
}

interface AutocannonResult {
  readonly duration: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly '2xx': number;
  readonly '4xx': number;
  readonly statusCodeStats: Readonly<Record<string, { count: number }>>;
  readonly latency: Histogram & { readonly totalCount: number };
  readonly requests: Histogram & { readonly sent: number };
}

interface AutocannonOptions {
  readonly url: string;
  readonly connections: number;
  readonly pipelining: number;
  readonly duration?: number;
  readonly amount?: number;
  readonly workers?: number;
  readonly timeout?: number;
  readonly sampleInt?: number;
  /** In workers mode, `setupRequest` is the path of a CommonJS module exporting the function. */
  readonly requests?: readonly ({ readonly setupRequest: string } | { readonly path: string })[];
}

// autocannon ships no types: loaded through require, typed by the interfaces above.
const autocannon = createRequire(import.meta.url)('autocannon') as (
  options: AutocannonOptions,
  callback: (err: Error | null, result: AutocannonResult) => void,
) => unknown;

/** One run; resolves with its result. */
function cannon(options: AutocannonOptions): Promise<AutocannonResult> {
  return new Promise((resolve, reject) =>
    autocannon(options, (err, result) => (err ? reject(err) : resolve(result))),
  );
}

// ---- The upstream: a plain static keep-alive server ----

interface StaticServer {
  readonly url: string;
  /** Requests answered so far. */
  readonly served: number;
  close(): Promise<void>;
}

/** Serves the files of `dir` named in `names` (plus nix-cache-info) from memory, keep-alive. */
async function serveStatic(dir: string, names: readonly string[]): Promise<StaticServer> {
  const files = new Map<string, Buffer>();
  for (const name of ['nix-cache-info', ...names]) files.set(`/${name}`, await readFile(join(dir, name)));
  let served = 0;
  const server: Server = createServer((req, res) => {
    served++;
    const body = files.get(req.url ?? '');
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 10 }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/x-nix-narinfo', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    get served() {
      return served;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** The narinfo an upstream holds for an entry: its fingerprint is the entry. */
function narinfoOf(fingerprint: string): string {
  const e = parseEntry(fingerprint);
  const narHash = encodeNix32(e.narHash);
  return formatNarinfo({
    storePath: e.storePath,
    url: `nar/${narHash}.nar`,
    compression: 'none',
    narHash: e.narHash,
    narSize: e.narSize,
    references: e.references.map((r) => r.slice('/nix/store/'.length)),
    sigs: [],
    extra: [],
  });
}

// ---- Request generators, loaded by the autocannon worker ----

/** A setupRequest module taking the next path of `paths` for each request, each path once. */
async function pathModule(dir: string, name: string, paths: readonly string[]) {
  const file = join(dir, `${name}.cjs`);
  await writeFile(
    file,
    `'use strict';\nconst PATHS = ${JSON.stringify(paths)};\nlet i = 0;\nmodule.exports = (req) => {\n` +
      "  if (i >= PATHS.length) throw new Error('out of fresh paths');\n  req.path = PATHS[i++];\n  return req;\n};\n",
  );
  return file;
}

/** A setupRequest module asking for a fresh random hash part (no log holds it) each request. */
async function randomPathModule(dir: string) {
  const file = join(dir, 'undecided.cjs');
  await writeFile(
    file,
    `'use strict';\nconst A = '0123456789abcdfghijklmnpqrsvwxyz';\n` +
      'module.exports = (req) => { let h = ""; for (let k = 0; k < 32; k++) h += A[Math.floor(Math.random() * 32)];\n' +
      "  req.path = '/' + h + '.narinfo'; return req; };\n",
  );
  return file;
}

// ---- Measuring ----

interface Run {
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly requests: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly non2xx: number;
  /** Event-loop utilization of the main thread (the servers) during the run. */
  readonly loopBusy: number;
  /** Main-thread CPU time per request, µs (Linux; undefined elsewhere). */
  readonly serverCpuUs: number | undefined;
  /** CPU time of every other thread per request, µs: the autocannon worker (its start-up included),
   * libuv's pool (LevelDB reads), V8's GC helpers. */
  readonly otherCpuUs: number | undefined;
  /** Share of the run the main thread was runnable but waiting for a CPU (machine noise). */
  readonly cpuWait: number | undefined;
}

/** The main thread's CPU and run-queue wait times in ns (/proc/self/task/PID/schedstat), if available. */
function mainThreadSched(): { cpu: number; wait: number } | undefined {
  try {
    const [cpu, wait] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8')
      .split(' ')
      .map(Number);
    return cpu === undefined || wait === undefined ? undefined : { cpu, wait };
  } catch {
    return undefined;
  }
}

/**
 * One autocannon run against `url`. `requests`: a setupRequest module (a path per request), or fixed
 * paths, which every connection cycles through (prebuilt: the cheapest client). Throws unless every
 * response had status `expect`.
 */
async function load(
  url: string,
  requests: string | readonly string[],
  expect: number,
  limit: { duration: number } | { amount: number },
): Promise<Run> {
  const elu = performance.eventLoopUtilization();
  const sched = mainThreadSched();
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const r = await cannon({
    url,
    connections: CONNECTIONS,
    pipelining: 1,
    workers: 1,
    timeout: 30,
    // The run ends at the first sample after its duration or amount: sample often to end on time.
    sampleInt: 100,
    requests:
      typeof requests === 'string' ? [{ setupRequest: requests }] : requests.map((path) => ({ path })),
    ...limit,
  });
  const wallNs = Number(process.hrtime.bigint() - started);
  const { user, system } = process.cpuUsage(cpu);
  const schedEnd = mainThreadSched();
  const loop = performance.eventLoopUtilization(elu);
  const statuses = Object.fromEntries(Object.entries(r.statusCodeStats).map(([s, { count }]) => [s, count]));
  const wrong = Object.entries(statuses).filter(([s]) => Number(s) !== expect);
  if (r.errors > 0 || r.timeouts > 0 || wrong.length > 0)
    throw new Error(
      `${url}: expected only ${expect}; got statuses ${JSON.stringify(statuses)}, ${r.errors} errors, ${r.timeouts} timeouts`,
    );
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
  const serverNs = sched && schedEnd ? schedEnd.cpu - sched.cpu : undefined;
  return {
    reqPerSec: answered / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    requests: answered,
    statuses,
    non2xx: r.non2xx,
    loopBusy: loop.utilization,
    serverCpuUs: serverNs === undefined ? undefined : serverNs / 1000 / answered,
    otherCpuUs: serverNs === undefined ? undefined : (user + system - serverNs / 1000) / answered,
    cpuWait: sched && schedEnd ? (schedEnd.wait - sched.wait) / wallNs : undefined,
  };
}

function summary(name: string, runs: readonly Run[], extra: Record<string, unknown> = {}): Measurement {
  const round = (x: number) => Number(x.toPrecision(4));
  const medianOf = (f: (r: Run) => number | undefined, digits: number) => {
    const values = runs.map(f).filter((v) => v !== undefined);
    return values.length === 0 ? undefined : Number(median(values).toFixed(digits));
  };
  return {
    name,
    median: round(median(runs.map((r) => r.reqPerSec))),
    unit: 'req/s',
    runs: runs.length,
    ...extra,
    p50Ms: median(runs.map((r) => r.p50)),
    p99Ms: median(runs.map((r) => r.p99)),
    worstP99Ms: Math.max(...runs.map((r) => r.p99)),
    maxMs: Math.max(...runs.map((r) => r.max)),
    perRun: runs.map((r) => round(r.reqPerSec)),
    requests: runs.reduce((a, r) => a + r.requests, 0),
    statuses: Object.keys(runs[0]?.statuses ?? {}).join(','),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    serverCpuUsPerRequest: medianOf((r) => r.serverCpuUs, 0),
    // What one core spent only on the server thread would answer: the rate without the client's share.
    serverCpuBoundReqPerSec: medianOf((r) => (r.serverCpuUs ? 1e6 / r.serverCpuUs : undefined), 0),
    otherThreadsCpuUsPerRequest: medianOf((r) => r.otherCpuUs, 0),
    serverLoopBusy: medianOf((r) => r.loopBusy, 2),
    serverCpuWait: medianOf((r) => r.cpuWait, 2),
  };
}

/** Requests each path once (10 at a time), expecting `status`. */
async function prime(base: string, paths: readonly string[], status: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++]!;
      const res = await fetch(`${base}${path.slice(1)}`);
      await res.arrayBuffer();
      if (res.status !== status) throw new Error(`${path}: ${res.status}, expected ${status}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
}

export async function run() {
  const m: Measurement[] = [];
  const dir = await tempDir('trustix-bench-subst-');
  const cacheDir = join(dir, 'cache');
  const genDir = join(dir, 'requests');
  await mkdir(cacheDir);
  await mkdir(genDir);
  let upstream: StaticServer | undefined;
  let fixture: VoteFixture | undefined;
  try {
    // The paths, and the upstream's narinfo for each (its fingerprint is the entry, checked).
    const entries = [...syntheticEntries(PATHS, 11)];
    const hashParts = entries.map((e) => parseStorePath(e.split(';', 3)[1]!).hashPart);
    const names: string[] = [];
    for (let i = 0; i < entries.length; i++) {
      const text = narinfoOf(entries[i]!);
      if (i < 100 && narinfoFingerprint(parseNarinfo(text)) !== entries[i])
        throw new Error('narinfo fingerprint differs from the entry');
      names.push(`${hashParts[i]}.narinfo`);
      await writeFile(join(cacheDir, names[i]!), text);
    }
    await writeFile(join(cacheDir, 'nix-cache-info'), 'StoreDir: /nix/store\n');
    upstream = await serveStatic(cacheDir, names);

    const setupStarted = performance.now();
    fixture = await openVoteFixture({
      logs: LOGS.map((name) => ({ name, entries })),
      vote: [parseDeciderSpec('threshold 3/4')],
      upstreams: [upstream.url],
    });
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    const paths = names.map((n) => `/${n}`);
    const warm = paths.slice(0, WARM_PATHS);
    const cold = paths.slice(WARM_PATHS);

    // Warm: every path of the warm set served once; then warm and baseline runs alternate.
    await prime(fixture.url, warm, 200);
    // Each upstream fetch leaves AbortSignal.timeout timers (5 s) that fire later: let them, first.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    const warmRuns: Run[] = [];
    const baseRuns: Run[] = [];
    for (let i = 0; i < RUNS; i++) {
      const before = upstream.served;
      warmRuns.push(await load(fixture.url, warm, 200, { duration: SECONDS }));
      if (upstream.served !== before) throw new Error('a warm request reached the upstream');
      baseRuns.push(await load(upstream.url, warm, 200, { duration: SECONDS }));
    }
    const baseline = median(baseRuns.map((r) => r.reqPerSec));
    const ratio = (runs: readonly Run[]) =>
      Number((median(runs.map((r) => r.reqPerSec)) / baseline).toFixed(3));
    m.push(
      summary('narinfo warm (decided over 4 logs, cached)', warmRuns, {
        target: '>= 5,000 req/s, p99 <= 20 ms',
        ratioToBaseline: ratio(warmRuns),
        paths: warm.length,
      }),
    );

    // In-process: the decider chain over 4 agreeing votes, and Decisions.decide from its cache.
    const { votes } = await fixture.decisions.decide(hashParts[0]!);
    if (votes.length !== 4 || votes.some((v) => v.fingerprints[0] !== entries[0]))
      throw new Error('expected 4 agreeing votes');
    const chain = fixture.chain;
    const OPS = 100_000;
    const chainRate = await rate(
      'decision in-process: DeciderChain.decide over 4 agreeing LogVotes (threshold 3/4)',
      OPS,
      async () => {
        for (let i = 0; i < OPS; i++) await chain.decide(votes);
      },
      { unit: 'decisions/s', target: '>= 50,000 decisions/s' },
    );
    if ((await chain.decide(votes)).fingerprint !== entries[0]) throw new Error('chain did not decide');
    const decisions = fixture.decisions;
    const warmHashes = hashParts.slice(0, WARM_PATHS);
    const cachedRate = await rate(
      'decision in-process: Decisions.decide, cached',
      OPS,
      async () => {
        for (let i = 0; i < OPS; i++) await decisions.decide(warmHashes[i % warmHashes.length]!);
      },
      { unit: 'decisions/s' },
    );

    // 404: a fresh made-up hash part per request (4 LevelDB misses, an undecided decision, cached).
    const undecidedGen = await randomPathModule(genDir);
    const undecidedRuns: Run[] = [];
    for (let i = 0; i < RUNS; i++)
      undecidedRuns.push(await load(fixture.url, undecidedGen, 404, { duration: SECONDS }));

    // Cold: the paths never requested, split over the runs; each run requests its share once.
    const coldRuns: Run[] = [];
    const share = Math.floor(cold.length / RUNS);
    for (let i = 0; i < RUNS; i++) {
      const slice = cold.slice(i * share, (i + 1) * share);
      // autocannon builds one request ahead per connection: leave those paths unrequested.
      const gen = await pathModule(genDir, `cold-${i}`, slice);
      const before = upstream.served;
      const coldRun = await load(fixture.url, gen, 200, { amount: slice.length - 2 * CONNECTIONS });
      if (upstream.served - before < coldRun.requests)
        throw new Error('a cold request did not reach the upstream');
      coldRuns.push(coldRun);
    }
    m.push(
      summary('narinfo cold (each path new: decided over 4 logs, upstream fetched, re-signed)', coldRuns, {
        ratioToBaseline: ratio(coldRuns),
        pathsPerRun: share - 2 * CONNECTIONS,
      }),
    );
    m.push(summary('narinfo 404 (undecided: a fresh unknown path per request)', undecidedRuns));
    m.push(
      summary('static baseline (same narinfos, plain node:http from memory)', baseRuns, {
        paths: warm.length,
      }),
    );
    m.push(chainRate, cachedRate);
    m.push({
      name: 'setup: 4 logs of the paths appended, followed, substituter started',
      median: Number(setupSeconds.toFixed(1)),
      unit: 's',
      runs: 1,
      paths: PATHS,
      connections: CONNECTIONS,
      pipelining: 1,
      secondsPerRun: SECONDS,
      client: 'autocannon in 1 worker thread; server and upstream on the main thread',
    });
  } finally {
    await fixture?.close();
    await upstream?.close();
    await rm(dir, { recursive: true, force: true });
  }
  return suiteResult('substituter', m);
}
