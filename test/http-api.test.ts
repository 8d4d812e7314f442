/**
 * The JSON API under /api/v1/ over real logs, statistics and a real HTTP server: every document, the
 * strict query checks, and the errors.
 */
import test from 'ava';
import { HttpServer } from '../node/http/server.ts';
import { ApiRoutes } from '../node/routes/api.ts';
import { ReproStats } from '../node/stats/repro-stats.ts';
import { parseDeciderSpec } from '../node/vote/decider.ts';
import { formatEntry, parseEntry } from '../protocol/entry.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';
import { openVoteFixture } from './helpers/vote-fixture.ts';

const honest = [...syntheticEntries(60, 3)];
const lie = (e: string) => {
  const p = parseEntry(e);
  return formatEntry({ ...p, narSize: p.narSize + 1 });
};

async function api(t: import('ava').ExecutionContext) {
  const f = await openVoteFixture({
    logs: [
      { name: 'mercury', entries: honest },
      { name: 'venus', entries: honest },
      { name: 'saturn', entries: honest.map((e, i) => (i < 6 ? lie(e) : e)) },
    ],
    vote: [parseDeciderSpec('threshold 2/3')],
  });
  t.teardown(() => f.close());
  const stats = new ReproStats({ db: f.db, followed: f.followed, store: (id) => f.store(id) });
  await stats.start();
  await stats.idle();
  t.teardown(() => stats.stop());
  const http = new HttpServer({});
  http.register(
    new ApiRoutes({
      views: stats.views,
      decide: (h) => f.decisions.decide(h),
      control: async (op) => ({ op }),
    }),
  );
  await http.start();
  t.teardown(() => http.stop());
  const base = `http://127.0.0.1:${http.address().port}/api/v1/`;
  return async (path: string, init?: RequestInit) => {
    const res = await fetch(base + path, init);
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      json: res.ok ? JSON.parse(text) : text,
    };
  };
}

test('stats, matrix, daily and the mismatch list', async (t) => {
  const get = await api(t);
  const stats = await get('stats');
  t.is(stats.type, 'application/json; charset=utf-8');
  t.like(stats.json.paths, { analysed: 60, reproducible: 54, mismatch: 6, inconclusive: 0 });
  const matrix = await get('matrix');
  t.deepEqual(matrix.json.logs, ['mercury', 'saturn', 'venus']);
  t.like(
    matrix.json.pairs.find((p: { a: string; b: string }) => p.a === 'mercury' && p.b === 'saturn'),
    { shared: 60, agree: 54, rate: 0.9 },
  );
  const daily = await get('daily?days=30');
  t.is(daily.json.days.length, 1);
  const page1 = await get('mismatches?limit=4');
  t.is(page1.json.items.length, 4);
  // Who disagrees: the logs grouped by value, the largest group first.
  for (const item of [...page1.json.items])
    t.deepEqual(item.groups, [['mercury', 'venus'], ['saturn']], item.storePath);
  const page2 = await get(`mismatches?limit=4&after=${page1.json.next}`);
  t.is(page2.json.items.length, 2);
  t.is(page2.json.next, null);
  t.deepEqual((await get('mismatches?log=mercury&q=zzzz-no-such')).json.items, []);
  const logs = await get('logs');
  t.like(logs.json, { op: 'logs' });
  t.is(logs.json.stats.length, 3);
});

test('a path report carries the verdict, who said what, and the decision', async (t) => {
  const get = await api(t);
  const e = parseEntry(honest[0]!);
  const hash = e.storePath.slice(11, 43);
  const res = await get(`paths/${hash}`);
  t.is(res.status, 200);
  t.like(res.json, { hashPart: hash, storePath: e.storePath, verdict: 'mismatch', silent: [] });
  t.like(res.json.decision, { decided: true, fingerprint: honest[0], agreeing: ['mercury', 'venus'] });
  t.deepEqual(res.json.decision.mismatches, [{ log: 'saturn', fingerprint: lie(honest[0]!) }]);
  // The same document as `trustix decide --json`, less the path asked.
  t.deepEqual(Object.keys(res.json.decision), [
    'decided',
    'storePath',
    'fingerprint',
    'decider',
    'agreeing',
    'mismatches',
    'misses',
    'abstentions',
    'tally',
    'reasons',
    'light',
    'unanswered',
  ]);
  t.is(res.json.decision.storePath, e.storePath);
});

test('strict queries and clean errors', async (t) => {
  const get = await api(t);
  t.is((await get('stats?x=1')).status, 400, 'unknown parameter');
  t.is((await get('mismatches?limit=1&limit=2')).status, 400, 'repeated parameter');
  t.is((await get('mismatches?limit=0')).status, 400);
  t.is((await get('mismatches?limit=abc')).status, 400);
  t.is((await get('mismatches?after=zzz')).status, 400);
  t.is((await get('mismatches?log=pluto')).status, 400);
  t.is((await get(`mismatches?q=${'a'.repeat(300)}`)).status, 400);
  t.is((await get('daily?days=0')).status, 400);
  t.is((await get('paths/not-a-hash')).status, 400);
  t.is((await get('nothing-here')).status, 404);
  t.is((await get('stats', { method: 'DELETE' })).status, 405);
});
