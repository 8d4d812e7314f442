/**
 * Reproducibility statistics on real logs and a real LevelDB: verdicts, per-log and per-pair counts, the
 * mismatch index with paging and filters, daily buckets, path reports, incremental updates as logs
 * grow, and resuming from the stored cursor after a restart (same numbers as indexing from scratch).
 */
import test from 'ava';
import { ReproStats } from '../node/stats/repro-stats.ts';
import type { LogStore } from '../node/store/log-store.ts';
import type { VerifiedBundle } from '../node/sync/sync-stage.ts';
import { parseDeciderSpec } from '../node/vote/decider.ts';
import { TILE_WIDTH } from '../protocol/constants.ts';
import { checkEntry, formatEntry, parseEntry } from '../protocol/entry.ts';
import { decodeEntryBundle } from '../protocol/entry-bundle.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';
import { openVoteFixture, type VoteFixture } from './helpers/vote-fixture.ts';

const DAY = Date.parse('2026-11-20T12:00:00Z');

/** `fingerprint` with another NAR size: what a builder with a different output publishes. */
function differ(fingerprint: string, by = 1): string {
  const e = parseEntry(fingerprint);
  return formatEntry({ ...e, narSize: e.narSize + by });
}

const all = [...syntheticEntries(600, 7)];
const honest = all.slice(0, 500);
// saturn differs on 20 paths; mars built only 300 of them; venus rebuilt one path twice differently.
const saturn = honest.map((e, i) => (i % 25 === 0 ? differ(e) : e));
const mars = honest.slice(0, 300);
const venus = [...honest, differ(honest[7]!, 2)];

async function fixture(t: import('ava').ExecutionContext, logs = BUILDERS): Promise<VoteFixture> {
  const f = await openVoteFixture({ logs, vote: [parseDeciderSpec('threshold 1/2')] });
  t.teardown(() => f.close());
  return f;
}

const BUILDERS = [
  { name: 'mercury', entries: honest },
  { name: 'venus', entries: venus },
  { name: 'saturn', entries: saturn },
  { name: 'mars', entries: mars },
];

async function indexed(f: VoteFixture, init: { chunkEntries?: number; now?: () => number } = {}) {
  const stats = new ReproStats(
    { db: f.db, followed: f.followed, store: (id) => f.store(id) },
    { now: () => DAY, ...init },
  );
  await stats.start();
  await stats.idle();
  return stats;
}

/** The numbers BUILDERS' logs give, however they were indexed. */
function assertBuilderNumbers(t: import('ava').ExecutionContext, views: ReproStats['views']) {
  const { paths, logs } = views.summary();
  // 500 paths; 20 where saturn differs (path 0 among them), plus path 7 (venus holds two values).
  t.deepEqual(paths, { reproducible: 479, mismatch: 21, inconclusive: 0, analysed: 500 });
  t.deepEqual(
    logs.map((l) => [l.name, l.entries, l.paths, l.indexed]),
    [
      ['mars', 300, 300, 300],
      ['mercury', 500, 500, 500],
      ['saturn', 500, 500, 500],
      ['venus', 501, 500, 501],
    ],
  );
  const pair = (a: string, b: string) => views.matrix().pairs.find((p) => p.a === a && p.b === b)!;
  t.like(pair('mercury', 'saturn'), { shared: 500, agree: 480, rate: 480 / 500 });
  t.like(pair('mars', 'mercury'), { shared: 300, agree: 300, rate: 1 });
  t.like(pair('mercury', 'venus'), { shared: 500, agree: 499 }, 'venus contradicts itself on one path');
  t.like(pair('mars', 'saturn'), { shared: 300, agree: 288 });
  t.deepEqual(views.daily(), [{ day: '2026-11-20', reproducible: 479, mismatch: 21, rate: 479 / 500 }]);
}

test('verdicts, per-log counts and the agreement matrix', async (t) => {
  const f = await fixture(t);
  const stats = await indexed(f, { chunkEntries: 97 });
  t.teardown(() => stats.stop());
  assertBuilderNumbers(t, stats.views);
});

test('the mismatch list pages by cursor and filters by log and by path text', async (t) => {
  const f = await fixture(t);
  const stats = await indexed(f);
  t.teardown(() => stats.stop());
  const seen: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await stats.views.mismatches({ limit: 8, ...(after ? { after } : {}) });
    seen.push(...page.items.map((i) => i.hashPart));
    if (page.next === null) break;
    after = page.next;
  }
  t.is(seen.length, 21);
  t.is(new Set(seen).size, 21);
  const venusOnly = await stats.views.mismatches({ log: 'mars', limit: 500 });
  t.is(
    venusOnly.items.length,
    13,
    'among the 300 paths mars built: 12 where saturn differs, and venus’s path 7',
  );
  t.true(venusOnly.items.every((i) => i.logs.includes('mars')));
  const name = parseEntry(honest[7]!).storePath.split('-').slice(1).join('-');
  const byText = await stats.views.mismatches({ q: name.toUpperCase() });
  t.deepEqual(
    byText.items.map((i) => i.storePath),
    [parseEntry(honest[7]!).storePath],
  );
  await t.throwsAsync(stats.views.mismatches({ limit: 0 }), { message: /limit/ });
  await t.throwsAsync(stats.views.mismatches({ log: 'pluto' }), { message: /not followed/ });
});

test('path reports say who said what', async (t) => {
  const f = await fixture(t);
  const stats = await indexed(f);
  t.teardown(() => stats.stop());
  const e = parseEntry(honest[0]!);
  const report = await stats.views.path(e.storePath.slice(11, 43));
  t.is(report.verdict, 'mismatch');
  t.is(report.storePath, e.storePath);
  t.deepEqual(
    report.logs.map((l) => [l.log, l.fingerprints]),
    [
      ['mars', [honest[0]]],
      ['mercury', [honest[0]]],
      ['saturn', [saturn[0]]],
      ['venus', [honest[0]]],
    ],
  );
  const only = parseEntry(honest[401]!);
  const partial = await stats.views.path(only.storePath.slice(11, 43));
  t.is(partial.verdict, 'reproducible');
  t.deepEqual(partial.silent, ['mars']);
});

test('incremental: logs growing later give the same numbers as indexing everything at once; a restart resumes', async (t) => {
  const f = await fixture(t, [
    { name: 'mercury', entries: honest.slice(0, 200) },
    { name: 'saturn', entries: saturn.slice(0, 100) },
  ]);
  let stats = await indexed(f, { chunkEntries: 50 });
  t.is(stats.views.summary().paths.analysed, 200);
  await stats.stop();
  await f.logs.get('mercury')!.append(honest.slice(200));
  await f.logs.get('saturn')!.append(saturn.slice(100));
  stats = await indexed(f, { chunkEntries: 50, now: () => DAY + 86_400_000 });
  t.teardown(() => stats.stop());
  t.deepEqual(stats.views.summary().paths, {
    reproducible: 480,
    mismatch: 20,
    inconclusive: 0,
    analysed: 500,
  });
  t.like(stats.views.matrix().pairs[0], { a: 'mercury', b: 'saturn', shared: 500, agree: 480 });
  t.deepEqual(
    stats.views.daily().map((d) => [d.day, d.reproducible, d.mismatch]),
    [
      ['2026-11-20', 96, 4],
      ['2026-11-21', 480, 20],
    ],
  );
  // More entries, while running: update() picks them up.
  await f.logs.get('saturn')!.append([all[550]!]);
  stats.update(f.logs.get('saturn')!.key.logId);
  await stats.idle();
  t.deepEqual(stats.views.summary().paths, {
    reproducible: 480,
    mismatch: 20,
    inconclusive: 1,
    analysed: 501,
  });
});

/**
 * What a sync of `store` from `fromSize` would tell its `stored` hook: steps of `stepBundles` verified
 * bundles (entries, leaf-hash tile, hash-part offsets), the first new entry of each bundle marked.
 */
async function steps(store: LogStore, fromSize: number, stepBundles: number): Promise<VerifiedBundle[][]> {
  const bundles: VerifiedBundle[] = [];
  for (let i = Math.floor(fromSize / TILE_WIDTH); i * TILE_WIDTH < store.size; i++) {
    const width = Math.min(TILE_WIDTH, store.size - i * TILE_WIDTH);
    const bundle = (await store.readTile({ kind: 'entries', index: i, width }))!;
    const data = (await store.readTile({ kind: 'hash', level: 0, index: i, width }))!;
    const hashParts = Uint32Array.from(
      decodeEntryBundle(bundle, width),
      (e) => checkEntry(e) + e.byteOffset - bundle.byteOffset,
    );
    const firstNew = Math.max(0, fromSize - i * TILE_WIDTH);
    bundles.push({
      index: i,
      tile: { tile: { kind: 'hash', level: 0, index: i, width }, data },
      bundle,
      firstNew,
      hashParts,
      newBytes: 0, // not what the statistics read
    });
  }
  const out: VerifiedBundle[][] = [];
  for (let i = 0; i < bundles.length; i += stepBundles) out.push(bundles.slice(i, i + stepBundles));
  return out;
}

test('ingest: the steps a sync stores are indexed from memory, giving the numbers indexing the logs gives; a step past a gap waits for update', async (t) => {
  const f = await fixture(t);
  // The logs are followed but not yet synced (no local copy): start() indexes nothing.
  const synced = new Set<string>();
  const stats = new ReproStats(
    { db: f.db, followed: f.followed, store: (id) => (synced.has(id) ? f.store(id) : undefined) },
    { now: () => DAY },
  );
  await stats.start();
  t.teardown(() => stats.stop());
  const [mercury, venus, saturn, mars] = BUILDERS.map((b) => f.logs.get(b.name)!.store);
  // mercury, venus and saturn sync from scratch, a bundle per step; saturn's steps come twice.
  for (const store of [mercury!, venus!, saturn!])
    for (const step of await steps(store, 0, 1)) await stats.ingest(store.logId, step);
  for (const step of await steps(saturn!, 0, 1)) await stats.ingest(saturn!.logId, step);
  // mars: its first step was lost (a restart mid-sync); the next one cannot be indexed from memory.
  const [, second] = await steps(mars!, 0, 1);
  await stats.ingest(mars!.logId, second!);
  t.like(
    stats.views.summary().logs.find((l) => l.name === 'mars'),
    { indexed: 0, entries: 0 },
  );
  // Once synced, update() reads it from the local copy.
  synced.add(mars!.logId);
  stats.update(mars!.logId);
  await stats.idle();
  assertBuilderNumbers(t, stats.views);
});

test('ingest: an incremental sync (its first bundle partly held already) continues the cursor', async (t) => {
  const f = await fixture(t, [{ name: 'mercury', entries: honest.slice(0, 300) }]);
  const stats = await indexed(f);
  t.teardown(() => stats.stop());
  const log = f.logs.get('mercury')!;
  await log.append(honest.slice(300));
  const told = await steps(log.store, 300, 2);
  t.is(told[0]![0]!.firstNew, 300 - 256);
  for (const step of told) await stats.ingest(log.key.logId, step);
  t.like(stats.views.summary().logs[0], { indexed: 500, entries: 500, paths: 500 });
  t.is(stats.views.summary().paths.inconclusive, 500, 'one log: no path is compared');
});
