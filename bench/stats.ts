/**
 * `npm run bench -- stats`: reproducibility statistics at scale. Four builder logs (mercury, venus,
 * saturn, mars) of TRUSTIX_BENCH_STATS_ENTRIES entries each (default 1,000,000) over the same paths:
 * saturn differs on 1% of them, mars built the first 80%. Measured: the time to index all of them from
 * scratch (entries/s over the four logs; target >= 50,000), and the JSON API's latency at that size for
 * the mismatch list (first page, later pages, filtered by log and by text) and the agreement matrix
 * (median and p99 over sequential requests; target p99 <= 50 ms).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiRoutes, FollowedLogs, HttpServer, openDatabase, ReproStats } from '../node/index.ts';
import { generateNixSecretKey } from '../protocol/index.ts';
import { type LogFixture, openLogFixture, tempDir } from '../test/helpers/log-fixture.ts';
import { syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { latency, type Measurement, suiteResult } from './harness.ts';

const ENTRIES = Number(process.env['TRUSTIX_BENCH_STATS_ENTRIES'] ?? 1_000_000);
const REQUESTS = Number(process.env['TRUSTIX_BENCH_STATS_REQUESTS'] ?? 300);

/** A different NAR size: another output for the same path. */
function differ(entry: string): string {
  const parts = entry.split(';');
  parts[3] = String(Number(parts[3]) + 1);
  return parts.join(';');
}

async function buildLog(
  name: string,
  pick: (entry: string, i: number) => string | undefined,
): Promise<LogFixture> {
  const log = await openLogFixture({
    secret: generateNixSecretKey(`${name}-1`),
    init: { intervalMs: 0, maxBatchSubmissions: 20_000 },
  });
  let chunk: { kind: 'entry'; entry: string }[] = [];
  let i = 0;
  for (const entry of syntheticEntries(ENTRIES, 42)) {
    const mine = pick(entry, i++);
    if (mine !== undefined) chunk.push({ kind: 'entry', entry: mine });
    if (chunk.length === 10_000) {
      await log.queue.enqueue(chunk);
      chunk = [];
    }
  }
  if (chunk.length > 0) await log.queue.enqueue(chunk);
  await log.sequencer.flushed();
  return log;
}

export async function run() {
  const started = Date.now();
  const logs = new Map<string, LogFixture>([
    ['mercury', await buildLog('mercury', (e) => e)],
    ['venus', await buildLog('venus', (e) => e)],
    ['saturn', await buildLog('saturn', (e, i) => (i % 100 === 0 ? differ(e) : e))],
    ['mars', await buildLog('mars', (e, i) => (i < ENTRIES * 0.8 ? e : undefined))],
  ]);
  const buildSeconds = (Date.now() - started) / 1000;
  const total = [...logs.values()].reduce((n, l) => n + l.store.size, 0);

  const dir = await tempDir('trustix-bench-stats-');
  const db = await openDatabase(join(dir, 'db'));
  const followed = await FollowedLogs.open(db);
  for (const [name, l] of logs) await followed.follow(l.key, { name });
  const byId = new Map([...logs.values()].map((l) => [l.key.logId, l.store]));
  const stats = new ReproStats({ db, followed, store: (id) => byId.get(id) });
  const t0 = process.hrtime.bigint();
  await stats.start();
  await stats.idle();
  const indexSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const measurements: Measurement[] = [
    {
      name: `index ${total} entries of 4 logs from scratch`,
      median: Math.round(total / indexSeconds),
      unit: 'entries/s',
      runs: 1,
      seconds: Number(indexSeconds.toFixed(1)),
      paths: stats.views.summary().paths,
      target: '>= 50000',
    },
  ];

  const http = new HttpServer({});
  http.register(
    new ApiRoutes({
      views: stats.views,
      decide: () => Promise.reject(new Error('not measured')),
      control: async () => ({}),
    }),
  );
  await http.start();
  const base = `http://127.0.0.1:${http.address().port}/api/v1/`;
  const get = async (path: string) => {
    const res = await fetch(base + path);
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return res.json() as Promise<{ next?: string | null; items?: unknown[] }>;
  };
  // Cursors spread over the whole list, for "later pages".
  const cursors: string[] = [];
  for (let page = await get('mismatches?limit=50'); page.next && cursors.length < 1000; ) {
    cursors.push(page.next);
    page = await get(`mismatches?limit=50&after=${page.next}`);
  }
  if (cursors.length === 0)
    throw new Error('too few mismatches for later pages: raise TRUSTIX_BENCH_STATS_ENTRIES');
  let k = 0;
  const target = '<= 50 ms p99';
  const runs = REQUESTS;
  measurements.push(
    await latency('GET /api/v1/matrix', () => get('matrix'), { runs, target }),
    await latency('GET /api/v1/mismatches (first page of 50)', () => get('mismatches?limit=50'), {
      runs,
      target,
    }),
    await latency(
      'GET /api/v1/mismatches (a later page of 50)',
      () => get(`mismatches?limit=50&after=${cursors[k++ % cursors.length]}`),
      { runs, target },
    ),
    await latency(
      'GET /api/v1/mismatches?log=mars (filtered by log)',
      () => get('mismatches?limit=50&log=mars'),
      {
        runs,
        target,
      },
    ),
    await latency(
      'GET /api/v1/mismatches?q=hello (filtered by text)',
      () => get('mismatches?limit=50&q=hello'),
      {
        runs,
        target,
      },
    ),
    await latency('GET /api/v1/stats', () => get('stats'), { runs, target }),
  );
  await http.stop();
  await stats.stop();
  await db.close();
  await rm(dir, { recursive: true, force: true });
  for (const l of logs.values()) await l.destroy();
  return { ...suiteResult('stats', measurements), entriesPerLog: ENTRIES, buildSeconds };
}
