/**
 * `npm run bench -- hostile`: a victim node under a hostile followed builder (issue 19's figures). The
 * victim follows an honest builder (2,000 entries) and a hostile one, on real LevelDB over real HTTP tile
 * servers, with its vote (`majority`, then `trust honest`) and substituter on a real HTTP server. While
 * the attack runs, a client asks the substituter for narinfos of the honest paths and of the attacked
 * path, one at a time (no upstream cache: the answer is 404 once the vote is taken, so the latency is
 * the vote's and the server's), and the victim's RSS is sampled every 20 ms.
 * - `2^40 checkpoint`: the hostile builder signs a checkpoint of 2^40 entries; the follower refuses it
 *   (ERR_LOG_LIMIT) and keeps serving.
 * - `100,000 entries for one path`: the hostile log holds that many entries for one store path; the
 *   victim syncs it and keeps serving.
 * Baseline: the same requests with no attack, in the same run. Targets: RSS peak <= 250 MB, narinfo
 * p99 <= 50 ms. Sizes: TRUSTIX_BENCH_HOSTILE_FLOOD (default 100,000).
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createDeciderChain,
  Decisions,
  FollowedLogs,
  Follower,
  HttpServer,
  openDatabase,
  parseDeciderSpec,
  Substituter,
  UpstreamCaches,
} from '../node/index.ts';
import { generateNixSecretKey, logSigner, parseStorePath, signCheckpoint } from '../protocol/index.ts';
import { type LogFixture, openLogFixture, tempDir } from '../test/helpers/log-fixture.ts';
import {
  fingerprint,
  prng,
  randomNarHash,
  randomStorePath,
  syntheticEntries,
} from '../test/helpers/synthetic-entries.ts';
import { startTileServer } from '../test/helpers/tile-servers.ts';
import { type Measurement, median, percentile, suiteResult } from './harness.ts';

const FLOOD = Number(process.env['TRUSTIX_BENCH_HOSTILE_FLOOD'] ?? 100_000);
const HONEST = [...syntheticEntries(2_000, 3)];
const rand = prng(40);
const FLOODED_PATH = randomStorePath(rand, 'flooded-1.0');

async function builder(name: string, entries: readonly string[]): Promise<LogFixture> {
  // A hostile builder's log is not bound by the per-path cap an honest node's own log keeps.
  const log = await openLogFixture({
    secret: generateNixSecretKey(`${name}-1`),
    init: { maxPathEntries: Number.POSITIVE_INFINITY },
  });
  for (let i = 0; i < entries.length; i += 10_000) await log.append(entries.slice(i, i + 10_000));
  return log;
}

/** Runs `attack` against a victim following `honest` and `hostile`; narinfo latencies and RSS peak. */
async function underAttack(
  name: string,
  honest: LogFixture,
  hostile: LogFixture,
  attack: (v: { notify(note: Uint8Array): void; done: Promise<void> }) => Promise<void> | void,
  until: (state: string, size: number) => boolean,
): Promise<Measurement[]> {
  const servers = [await startTileServer(honest.store), await startTileServer(hostile.store)];
  const dir = await tempDir('trustix-bench-hostile-');
  const db = await openDatabase(join(dir, 'db'));
  const followed = await FollowedLogs.open(db);
  const sourceOf = new Map([
    [honest.key.logId, servers[0]!.source],
    [hostile.key.logId, servers[1]!.source],
  ]);
  const follower = new Follower(
    { db, followed, sourcesFor: (id) => [sourceOf.get(id)!] },
    { refreshOnFollow: false },
  );
  await follower.start();
  await followed.follow(honest.key.vkey, { name: 'honest' });
  await followed.follow(hostile.key.vkey, { name: 'hostile' });
  follower.notify(honest.key.logId, honest.store.checkpoint()!.note);
  await follower.whenSynced(honest.key.logId, HONEST.length);
  const chain = await createDeciderChain([parseDeciderSpec('majority'), parseDeciderSpec('trust honest')]);
  const decisions = new Decisions({
    followed,
    chain,
    store: (id) => follower.get(id),
    isForked: () => false,
  });
  decisions.start();
  const substituter = new Substituter({
    decisions,
    upstreams: new UpstreamCaches([]),
    cacheKey: generateNixSecretKey('bench-cache-1'),
  });
  const http = new HttpServer({});
  http.register(substituter);
  await http.start();
  const base = `http://127.0.0.1:${http.address().port}/`;
  const hashParts = [...HONEST.map((e) => parseStorePath(e.split(';')[1]!).hashPart)];
  const flooded = parseStorePath(FLOODED_PATH).hashPart;

  // The builders live in this process too: RSS before the attack is the baseline the peak adds to.
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const times: number[] = [];
  let stop = false;
  const client = (async () => {
    for (let i = 0; !stop; i++) {
      // Every 10th request: the attacked path; decisions are cached until a log grows.
      const h = i % 10 === 9 ? flooded : hashParts[i % hashParts.length]!;
      const start = process.hrtime.bigint();
      const res = await fetch(`${base}${h}.narinfo`);
      await res.arrayBuffer();
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  })();
  const started = Date.now();
  const done = new Promise<void>((resolve) => {
    const check = () => {
      const s = follower.status(hostile.key.logId);
      if (s !== undefined && until(s.state, s.verifiedSize)) resolve();
    };
    for (const e of ['synced', 'sync-failed', 'progress'] as const) follower.addEventListener(e, check);
    check();
  });
  await attack({ notify: (note) => follower.notify(hostile.key.logId, note), done });
  await done;
  // A few more seconds of serving after the attack settled.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  stop = true;
  await client;
  clearInterval(sampler);
  const seconds = (Date.now() - started) / 1000;
  const status = follower.status(hostile.key.logId);

  await http.stop();
  decisions.stop();
  await chain.close();
  await follower.stop();
  await db.close();
  await rm(dir, { recursive: true, force: true });
  for (const s of servers) await s.stop();
  return [
    {
      name: `${name}: narinfo latency`,
      median: round(median(times)),
      p99: round(percentile(times, 99)),
      unit: 'ms',
      runs: times.length,
      target: 'p99 <= 50 ms',
      seconds,
      hostileState: status?.state,
      hostileError: status?.error?.code ?? null,
      hostileVerifiedSize: status?.verifiedSize,
    },
    {
      name: `${name}: RSS peak`,
      median: round(peak / 2 ** 20),
      unit: 'MiB',
      runs: 1,
      target: '<= 250 MB',
      before: round(before / 2 ** 20),
    },
  ];
}

const round = (x: number) => Number(x.toPrecision(4));

export async function run() {
  const honest = await builder('honest', HONEST);
  const measurements: Measurement[] = [];
  try {
    const small = await builder('hostile', [...syntheticEntries(300, 9)]);
    measurements.push(
      ...(await underAttack(
        'baseline (hostile log honest, 300 entries)',
        honest,
        small,
        (v) => v.notify(small.store.checkpoint()!.note),
        (_, size) => size >= 300,
      )),
    );
    measurements.push(
      ...(await underAttack(
        '2^40 checkpoint',
        honest,
        small,
        (v) => {
          v.notify(small.store.checkpoint()!.note);
          const claim = signCheckpoint(
            {
              origin: small.store.checkpoint()!.origin,
              size: 2 ** 40,
              root: randomBytes(32),
              extensions: [],
            },
            logSigner(small.secret),
          );
          // Once the honest part is in, the huge claim.
          setTimeout(() => v.notify(claim), 500);
        },
        (state) => state === 'failed',
      )),
    );
    await small.destroy();
    const flood = Array.from({ length: FLOOD }, (_, i) =>
      fingerprint(FLOODED_PATH, randomNarHash(rand), 1000 + i, []),
    );
    const flooder = await builder('flooder', flood);
    measurements.push(
      ...(await underAttack(
        `${FLOOD} entries for one path`,
        honest,
        flooder,
        (v) => v.notify(flooder.store.checkpoint()!.note),
        (_, size) => size >= FLOOD,
      )),
    );
    await flooder.destroy();
  } finally {
    await honest.destroy();
  }
  return suiteResult('hostile', measurements);
}
