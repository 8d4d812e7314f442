/**
 * The source pool spreads a sync over sources that catch up while it runs: real HTTP tile servers on
 * 127.0.0.1 over real LogStores; a source whose tree was too small at the start is asked again and then
 * serves tiles, and sources found meanwhile (the follower's source finder) join the sync.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { NodeUnavailableError, SyncFailedError, TileSourceError } from '../node/errors.ts';
import { openDatabase } from '../node/store/database.ts';
import type { LogReader } from '../node/store/log-reader.ts';
import { LogStore } from '../node/store/log-store.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import { LogSync } from '../node/sync/log-sync.ts';
import type { SourceFailedEvent, TileSource } from '../node/sync/tile-source.ts';
import type { LogKey } from '../protocol/keys.ts';
import { type LogFixture, openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';
import { startTileServer, type Tamper } from './helpers/tile-servers.ts';

const ENTRIES = [...syntheticEntries(3000, 11)];

async function builder(t: ExecutionContext, entries: readonly string[], secret?: LogFixture['secret']) {
  const log = await openLogFixture(secret === undefined ? {} : { secret });
  t.teardown(() => log.destroy());
  for (let i = 0; i < entries.length; i += 1000) await log.append(entries.slice(i, i + 1000));
  return log;
}

async function followerStore(t: ExecutionContext, key: LogKey) {
  const dir = await tempDir('trustix-pool-');
  const db = await openDatabase(join(dir, 'db'));
  t.teardown(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { db, store: await LogStore.open(db, key) };
}

async function server(t: ExecutionContext, reader: LogReader, tamper?: Tamper) {
  const s = await startTileServer(reader, tamper === undefined ? {} : { tamper });
  t.teardown(() => s.stop());
  return s;
}

/** Answers after `wait` has settled, then after `ms` more: a builder slow enough to share the sync. */
const slowed =
  (wait: Promise<unknown>, ms: number): Tamper =>
  async (_tile, body) => {
    await wait;
    await new Promise((r) => setTimeout(r, ms));
    return body;
  };

test('a source that reaches the size during the sync is asked again and serves tiles', async (t) => {
  const log = await builder(t, ENTRIES);
  // The same log at 100 entries: it grows to 3,000 once the sync has asked for its checkpoint.
  const behind = await builder(t, ENTRIES.slice(0, 100), log.secret);
  const grown = Promise.withResolvers<void>();
  let asked = false;
  const growing: LogReader = {
    logId: behind.store.logId,
    key: behind.store.key,
    checkpoint: () => {
      const cp = behind.store.checkpoint();
      if (!asked) {
        asked = true;
        (async () => {
          for (let i = 100; i < 3000; i += 1000)
            await behind.append(ENTRIES.slice(i, Math.min(3000, i + 1000)));
        })().then(grown.resolve, grown.reject);
      }
      return cp;
    },
    readTile: (tile) => behind.store.readTile(tile),
  };
  const late = await server(t, growing);
  // The builder answers nothing before the other source has grown, then one request per 100 ms.
  const first = await server(t, log.store, slowed(grown.promise, 100));
  const f = await followerStore(t, log.key);
  const sync = new LogSync(
    { db: f.db, store: f.store, sources: [late.source, first.source] },
    { recheckMs: 200, perSourceConcurrency: 2 },
  );
  const failures: SourceFailedEvent[] = [];
  sync.addEventListener('source-failed', (e) => failures.push(e.detail));
  t.like(await sync.run(log.store.checkpoint()!), { toSize: 3000, failedSources: [] });
  t.deepEqual(failures, []);
  t.true(asked);
  // At 100 entries it had no full bundle: every bundle it served, it served after it grew.
  t.true(late.served.entries.length > 0, 'the source that caught up served entry bundles');
  t.true(first.served.entries.length < 12, 'the builder did not serve every bundle');
  t.is((await verifyLog(f.store)).entries, 3000);
});

test('sources found while the sync runs join it', async (t) => {
  const log = await builder(t, ENTRIES);
  const first = await server(t, log.store, slowed(Promise.resolve(), 100));
  const found = await server(t, log.store);
  const f = await followerStore(t, log.key);
  let discoveries = 0;
  const sync = new LogSync(
    {
      db: f.db,
      store: f.store,
      sources: [first.source],
      discover: () => {
        discoveries++;
        return [first.source, found.source];
      },
    },
    { discoverMs: 200, perSourceConcurrency: 1 },
  );
  t.like(await sync.run(log.store.checkpoint()!), { toSize: 3000, failedSources: [] });
  t.true(discoveries > 0);
  t.true(found.served.entries.length > 0, 'the source found meanwhile served entry bundles');
  t.deepEqual(sync.sources().sort(), [first.source.id, found.source.id].sort());
});

/** Answers each entry bundle `ms` late (a long link) and records the most bundles in flight at once. */
function inFlight(ms: number): { tamper: Tamper; peak: () => number } {
  let now = 0;
  let peak = 0;
  return {
    tamper: async (tile, body) => {
      if (tile.kind !== 'entries') return body;
      peak = Math.max(peak, ++now);
      await new Promise((r) => setTimeout(r, ms));
      now--;
      return body;
    },
    peak: () => peak,
  };
}

test('a source alone over a slow link gets a deep pipeline; several sources share the sync', async (t) => {
  const log = await builder(t, ENTRIES);
  // Alone: past spreadConcurrency (4), up to its own cap (8 for an HTTP source).
  // Answers 300 ms late: long enough that a loaded machine still has every request out before one returns.
  const alone = inFlight(300);
  const only = await startTileServer(log.store, { tamper: alone.tamper, source: { maxConcurrency: 8 } });
  t.teardown(() => only.stop());
  const f = await followerStore(t, log.key);
  const single = new LogSync({ db: f.db, store: f.store, sources: [only.source] });
  t.like(await single.run(log.store.checkpoint()!), { toSize: 3000, failedSources: [] });
  t.is(alone.peak(), 8, 'as many bundles in flight as the source takes');
  // Three alike: each holds at most spreadConcurrency, so all serve.
  const shared = [inFlight(300), inFlight(300), inFlight(300)];
  const servers = await Promise.all(shared.map((s) => server(t, log.store, s.tamper)));
  const g = await followerStore(t, log.key);
  const sync = new LogSync({ db: g.db, store: g.store, sources: servers.map((s) => s.source) });
  t.like(await sync.run(log.store.checkpoint()!), { toSize: 3000, failedSources: [] });
  for (const s of servers) t.true(s.served.entries.length >= 3, `${s.url} served ${s.served.entries.length}`);
  t.true(Math.max(...shared.map((s) => s.peak())) <= 4, 'none was given more than 4');
  t.is((await verifyLog(g.store)).entries, 3000);
});

test('a busy source is paused, not dropped: its busy answers count once a pause, and an answer served clears them', async (t) => {
  const log = await builder(t, ENTRIES);
  // One bundle served (the sync then has 8 in flight, the HTTP source's cap), then busy for 24, 2
  // served, busy for 24 more: three rounds of 8 each time, while a fifth round in a row drops it.
  let asked = 0;
  const bursts: Tamper = (tile, body) => {
    if (tile.kind !== 'entries') return body;
    asked++;
    if ((asked > 1 && asked <= 25) || (asked > 27 && asked <= 51)) throw new NodeUnavailableError('busy');
    return body;
  };
  const only = await startTileServer(log.store, { tamper: bursts, source: { maxConcurrency: 8 } });
  t.teardown(() => only.stop());
  const f = await followerStore(t, log.key);
  const failed: SourceFailedEvent[] = [];
  const sync = new LogSync(
    { db: f.db, store: f.store, sources: [only.source] },
    { busyRetries: 4, busyBackoffMs: 20, busyMaxPauseMs: 40 },
  );
  sync.addEventListener('source-failed', (e) => failed.push(e.detail));
  t.like(await sync.run(log.store.checkpoint()!), { toSize: 3000, failedSources: [] });
  t.true(asked >= 48 + 12, `asked ${asked} times`);
  t.deepEqual(failed, []);
  t.is((await verifyLog(f.store)).entries, 3000);
});

test('a source whose checkpoint and progress never answer, whatever its abort signal, does not hold up the sync', async (t) => {
  const log = await builder(t, ENTRIES);
  const good = await server(t, log.store);
  const f = await followerStore(t, log.key);
  // A peer whose stream never completes and that ignores the abort (seen with libp2p streams).
  const never = () => new Promise<never>(() => {});
  const hanging = { id: 'hanging', checkpoint: never, progress: never, holders: never, tiles: never };
  const sync = new LogSync(
    { db: f.db, store: f.store, sources: [hanging, good.source] },
    { requestTimeoutMs: 3_000 },
  );
  t.like(await sync.run(log.store.checkpoint()!), { toSize: 3000 });
  t.is((await verifyLog(f.store)).entries, 3000);
});

test("a failure of a source's session, failing its queued requests at once, counts once: the source stays", async (t) => {
  const log = await builder(t, ENTRIES);
  const s = await server(t, log.store);
  // Three bundle requests fail together with one cause, as the requests queued on a session whose
  // answer came late for its turn do (node/network/request-session.ts); two timeouts would drop a source.
  const cause = new Error('no complete answer within 10000 ms of its turn');
  let failing = 3;
  const queuedTogether = Promise.withResolvers<void>();
  let waiting = 0;
  const session: TileSource = {
    id: s.source.id,
    checkpoint: (logId, options) => s.source.checkpoint(logId, options),
    async tiles(logId, tiles, options) {
      // The first bundle is served: until one has come, a sync fetches one at a time.
      if (failing > 0 && tiles.some((tile) => tile.kind === 'entries' && tile.index > 0)) {
        failing--;
        if (++waiting === 3) queuedTogether.resolve();
        await queuedTogether.promise;
        throw new TileSourceError(s.source.id, 'timeout', 'late for its turn', { cause });
      }
      return s.source.tiles(logId, tiles, options);
    },
  };
  const f = await followerStore(t, log.key);
  const sync = new LogSync({ db: f.db, store: f.store, sources: [session] }, { perSourceConcurrency: 8 });
  const failures: SourceFailedEvent[] = [];
  sync.addEventListener('source-failed', (e) => failures.push(e.detail));
  t.like(await sync.run(log.store.checkpoint()!), { toSize: 3000, failedSources: [] });
  t.deepEqual(failures, []);
  t.is(failing, 0);
  t.is((await verifyLog(f.store)).entries, 3000);
});

/**
 * A source that answers its requests one after another, each `ms` after the one before (a session over a
 * slow uplink: answers leave in order at the link's pace), until `answers` have been served; then none.
 */
function oneAtATime(inner: TileSource, ms: number, answers = Number.POSITIVE_INFINITY) {
  let line: Promise<unknown> = Promise.resolve();
  let inFlight = 0;
  const seen = { peak: 0, served: 0, lastAnswerAt: 0 };
  const source: TileSource = {
    id: inner.id,
    checkpoint: (logId, options) => inner.checkpoint(logId, options),
    tiles(logId, tiles, options) {
      inFlight++;
      seen.peak = Math.max(seen.peak, inFlight);
      const answer = line.then(async () => {
        if (seen.served >= answers) return new Promise<never>(() => {});
        await new Promise((r) => setTimeout(r, ms));
        const bodies = await inner.tiles(logId, tiles, options);
        seen.served++;
        seen.lastAnswerAt = Date.now();
        return bodies;
      });
      line = answer.catch(() => {});
      return answer.finally(() => inFlight--);
    },
  };
  return { source, seen };
}

test('a source answering one request after another is kept however long its queue: each request is timed from its turn', async (t) => {
  const log = await builder(t, ENTRIES);
  const s = await server(t, log.store);
  // 12 bundles in flight, answered 250 ms apart: the last waits ~3 s, three times the limit of 1 s, and
  // each answer comes ~250 ms after its turn (the answer before it).
  const slow = oneAtATime(s.source, 250);
  const f = await followerStore(t, log.key);
  const failed: SourceFailedEvent[] = [];
  const sync = new LogSync(
    { db: f.db, store: f.store, sources: [slow.source] },
    { requestTimeoutMs: 1_000, perSourceConcurrency: 12, maxConcurrency: 12 },
  );
  sync.addEventListener('source-failed', (e) => failed.push(e.detail));
  t.like(await sync.run(log.store.checkpoint()!), { toSize: 3000, failedSources: [] });
  t.true(slow.seen.peak >= 8, `${slow.seen.peak} requests queued at once`);
  t.deepEqual(failed, []);
  t.is((await verifyLog(f.store)).entries, 3000);
});

test('a source that stops answering is timed out one limit after its last answer, and the sync says so', async (t) => {
  const log = await builder(t, ENTRIES);
  const s = await server(t, log.store);
  const stalled = oneAtATime(s.source, 50, 3);
  const f = await followerStore(t, log.key);
  const sync = new LogSync(
    { db: f.db, store: f.store, sources: [stalled.source] },
    { requestTimeoutMs: 1_000, perSourceConcurrency: 12, maxConcurrency: 12 },
  );
  const err = await t.throwsAsync(sync.run(log.store.checkpoint()!), { instanceOf: SyncFailedError });
  const waited = Date.now() - stalled.seen.lastAnswerAt;
  t.regex(err.message, /timeout/);
  t.is(stalled.seen.served, 3);
  // Its last answer gave the requests behind it their turn: none timed out before a whole limit had passed
  // (two timeouts drop a source, `timeoutRetries`), nor long after (a loaded machine may be late).
  t.true(waited >= 990, `failed ${waited} ms after the last answer`);
  t.true(waited < 10_000, `failed ${waited} ms after the last answer`);
});
