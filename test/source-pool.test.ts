/**
 * The source pool spreads a sync over sources that catch up while it runs: real HTTP tile servers on
 * 127.0.0.1 over real LogStores; a source whose tree was too small at the start is asked again and then
 * serves tiles, and sources found meanwhile (the follower's source finder) join the sync.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { openDatabase } from '../node/store/database.ts';
import type { LogReader } from '../node/store/log-reader.ts';
import { LogStore } from '../node/store/log-store.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import { LogSync } from '../node/sync/log-sync.ts';
import type { SourceFailedEvent } from '../node/sync/tile-source.ts';
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
