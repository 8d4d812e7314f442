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
 * The sizes (environment variables): bench/substituter-settings.ts; the upstream cache:
 * bench/substituter-upstream.ts; a load and its CPU figures: bench/substituter-load.ts (autocannon typed in
 * bench/autocannon.ts, its request generators in bench/substituter-requests.ts); a load's runs as a
 * measurement: bench/substituter-report.ts.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDeciderSpec } from '../node/index.ts';
import { narinfoFingerprint, parseNarinfo, parseStorePath } from '../protocol/index.ts';
import { tempDir } from '../test/helpers/log-fixture.ts';
import { syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { openVoteFixture, type VoteFixture } from '../test/helpers/vote-fixture.ts';
import { type Measurement, median, rate, suiteResult } from './harness.ts';
import { load, prime, type Run } from './substituter-load.ts';
import { summary } from './substituter-report.ts';
import { pathModule, randomPathModule } from './substituter-requests.ts';
import { CONNECTIONS, LOGS, PATHS, RUNS, SECONDS, WARM_PATHS } from './substituter-settings.ts';
import { narinfoOf, type StaticServer, serveStatic } from './substituter-upstream.ts';

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
