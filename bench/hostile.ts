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
 * - `fresh-key checkpoints`: 10 peers gossip 1,000 checkpoints a second in all, each of a fresh key
 *   (valid, of logs nobody follows), into the victim's checkpoint monitor (the gossip validator
 *   gossipsub calls, with its budgets and bounded queue); meanwhile the followed (honest) log grows by
 *   1,000 entries and must sync.
 * Baseline: the same requests with no attack, in the same run. Targets: RSS peak <= 250 MB, narinfo
 * p99 <= 50 ms. Sizes: TRUSTIX_BENCH_HOSTILE_FLOOD (default 100,000), TRUSTIX_BENCH_HOSTILE_SPAM_SECONDS
 * (default 10).
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CheckpointMonitor,
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
import {
  generateNixSecretKey,
  logKeyOf,
  logSigner,
  parseStorePath,
  signCheckpoint,
} from '../protocol/index.ts';
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
const SPAM_SECONDS = Number(process.env['TRUSTIX_BENCH_HOSTILE_SPAM_SECONDS'] ?? 10);
const SPAM_PEERS = 10;
const SPAM_PER_SECOND = 1_000;

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
  attack: (v: {
    notify(note: Uint8Array): void;
    monitor: CheckpointMonitor;
    done: Promise<void>;
    /** Figures of the attack itself, added to the latency measurement. */
    report(figures: Record<string, unknown>): void;
  }) => Promise<void> | void,
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
  // The gossip validator of a node: fresh-key gossip lands here (node/monitor/checkpoint-monitor.ts).
  const monitor = new CheckpointMonitor({
    db,
    logs: { get: (id) => follower.get(id) },
    followed: (id) => followed.get(id) !== undefined,
  });
  await monitor.start();
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
  let extra: Record<string, unknown> = {};
  await attack({
    notify: (note) => follower.notify(hostile.key.logId, note),
    monitor,
    done,
    report: (figures) => {
      extra = figures;
    },
  });
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
      ...extra,
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
  const made = Date.now();
  const messages = spamMessages();
  const spamMadeSeconds = (Date.now() - made) / 1000;
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
    measurements.push(
      ...(await underAttack(
        `${SPAM_PER_SECOND} fresh-key checkpoints/s from ${SPAM_PEERS} peers, ${SPAM_SECONDS} s`,
        honest,
        small,
        async (v) => {
          v.notify(small.store.checkpoint()!.note);
          const grow = async () => {
            await small.append([...syntheticEntries(1_000, 11)]);
            v.notify(small.store.checkpoint()!.note);
          };
          v.report({ ...(await spam(v.monitor, messages, grow)), spamMadeSeconds });
        },
        (_, size) => size >= 1_300,
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

/**
 * Case (c)'s messages: SPAM_PER_SECOND * SPAM_SECONDS checkpoint messages, each of a fresh key (a valid
 * first checkpoint of a log nobody follows). Made before any measurement: signing is the attacker's cost.
 */
function spamMessages(): Uint8Array[] {
  return Array.from({ length: SPAM_PER_SECOND * SPAM_SECONDS }, (_, i) => {
    const secret = generateNixSecretKey(`spam${i}-1`);
    const note = signCheckpoint(
      { origin: `spam${i}-1`, size: 1 + (i % 1000), root: randomBytes(32), extensions: [] },
      logSigner(secret),
    );
    // The message format of docs/PROTOCOL.md: the vkey line, then the note.
    return new Uint8Array(Buffer.concat([Buffer.from(`${logKeyOf(secret).vkey}\n`), note]));
  });
}

/**
 * Case (c): SPAM_PEERS peers send `messages` into the monitor's gossip validator, SPAM_PER_SECOND a
 * second in all, round-robin; `meanwhile` (the followed log grows) runs after the first second. Returns
 * what the monitor made of them and the rate achieved.
 */
async function spam(
  monitor: CheckpointMonitor,
  messages: readonly Uint8Array[],
  meanwhile: () => Promise<void>,
) {
  const total = messages.length;
  const peers = Array.from({ length: SPAM_PEERS }, (_, i) => `spammer-${i}`);
  const outcomes: Record<string, number> = {};
  const judged: Promise<void>[] = [];
  const started = Date.now();
  let sent = 0;
  let grown: Promise<void> | undefined;
  // Every 10 ms, the messages due by then.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((Date.now() - started) * SPAM_PER_SECOND) / 1000));
      for (; sent < due; sent++)
        judged.push(
          monitor.validate(messages[sent]!, peers[sent % SPAM_PEERS]).then((v) => {
            outcomes[v.outcome] = (outcomes[v.outcome] ?? 0) + 1;
          }),
        );
      if (grown === undefined && Date.now() - started >= 1000) grown = meanwhile();
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  const seconds = (Date.now() - started) / 1000;
  await Promise.all(judged);
  await grown;
  return {
    spamSent: sent,
    spamPerSecond: round(sent / seconds),
    spamOutcomes: outcomes,
    logsTracked: monitor.size,
  };
}
