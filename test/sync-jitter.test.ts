// The start delay of syncs that gossip brought (FollowerInit.syncJitterMs, docs/SCALE.md): followers
// told of a checkpoint at the same moment start one after another, and the later ones fetch from the
// earlier ones instead of all from the builder. Real LevelDB stores, real syncs, real HTTP tile servers
// (the builder's and each follower's own copy).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { openDatabase } from '../node/store/database.ts';
import { FollowedLogs } from '../node/store/followed-logs.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import { Follower, type FollowerInit } from '../node/sync/follower.ts';
import type { TileSource } from '../node/sync/tile-source.ts';
import { type LogFixture, openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';
import { startTileServer, type TileServer } from './helpers/tile-servers.ts';

const ENTRIES = [...syntheticEntries(4000, 23)];

async function builder(t: ExecutionContext, entries: readonly string[]): Promise<LogFixture> {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  for (let i = 0; i < entries.length; i += 1000) await log.append(entries.slice(i, i + 1000));
  return log;
}

/** A follower on its own LevelDB, following `log`; `random` draws its start delays. */
async function follower(
  t: ExecutionContext,
  log: LogFixture,
  sources: () => readonly TileSource[],
  init: FollowerInit,
  random?: () => number,
): Promise<Follower> {
  const dir = await tempDir('trustix-jitter-');
  const db = await openDatabase(join(dir, 'db'));
  const followed = await FollowedLogs.open(db);
  const f = new Follower(
    { db, followed, sourcesFor: sources, ...(random && { random }) },
    { refreshOnFollow: false, ...init },
  );
  await f.start();
  t.teardown(async () => {
    await f.stop();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  await followed.follow(log.key);
  return f;
}

const FOLLOWERS = 4;
const JITTER_MS = 2_000 * FOLLOWERS; // 2 s between two starts: a 1,000-entry sync on loopback takes far less

/**
 * The builder's tile server and FOLLOWERS followers of `log`, each serving its own copy and asking the
 * builder and every other follower; follower i starts i/FOLLOWERS of the jitter after hearing of a
 * checkpoint. `ready` runs before a follower's copy is served.
 */
async function swarm(t: ExecutionContext, log: LogFixture, ready: (f: Follower) => Promise<void>) {
  const builderServer = await startTileServer(log.store);
  t.teardown(() => builderServer.stop());
  const servers: TileServer[] = [];
  const followers: Follower[] = [];
  for (let i = 0; i < FOLLOWERS; i++) {
    const f = await follower(
      t,
      log,
      () => [builderServer.source, ...servers.filter((_, j) => j !== i).map((s) => s.source)],
      { syncJitterMs: JITTER_MS },
      () => i / FOLLOWERS,
    );
    await ready(f);
    const server = await startTileServer(f.get(log.key.logId)!);
    t.teardown(() => server.stop());
    servers.push(server);
    followers.push(f);
  }
  return { builderServer, servers, followers };
}

/**
 * Tells every follower of the log's checkpoint at once, from the builder (as gossip does), and waits
 * until each holds a verified copy of it; the entry bundles the builder served (both counts logged).
 */
async function announce(
  t: ExecutionContext,
  log: LogFixture,
  { builderServer, servers, followers }: Awaited<ReturnType<typeof swarm>>,
): Promise<number> {
  const { logId } = log.key;
  const cp = log.store.checkpoint()!;
  for (const f of followers) t.is(f.notify(logId, cp.note, builderServer.url), 'new');
  await Promise.all(followers.map((f) => f.whenSynced(logId, cp.size)));
  for (const f of followers) t.is((await verifyLog(f.get(logId)!)).entries, cp.size);
  const fromBuilder = builderServer.served.entries.length;
  const fromFollowers = servers.reduce((n, s) => n + s.served.entries.length, 0);
  t.log(`bundles served: builder ${fromBuilder}, followers ${fromFollowers}`);
  return fromBuilder;
}

test('followers told of a checkpoint at once start one after another and fetch it mostly from each other', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 3000));
  const { logId } = log.key;
  const { builderServer, servers, followers } = await swarm(t, log, async (f) => {
    // Asked for (refresh), the first sync starts at once.
    t.is(await f.refresh(logId), 3000);
    await f.whenSynced(logId, 3000);
  });
  builderServer.served.entries.length = 0;

  await log.append(ENTRIES.slice(3000, 4000));
  const fromBuilder = await announce(t, log, { builderServer, servers, followers });
  // The 1,000 new entries lie in bundles 11-15 (11 grows from 184 to 256 entries): 5 per follower.
  // All at once, each would fetch all 5 from the builder (20); one after another, the builder serves
  // the first follower's 5 and about half, a third, a quarter of the others' (~10).
  t.true(fromBuilder <= 14, `the builder served ${fromBuilder} of the ${5 * FOLLOWERS} bundles`);
});

test('followers of a new log told of its first checkpoint at once start one after another too', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 1000));
  const { logId } = log.key;
  // Each serves its copy to the others from the start (nothing until its sync commits).
  const { builderServer, servers, followers } = await swarm(t, log, (f) =>
    waitFor('the local copy', () => f.get(logId) !== undefined),
  );
  const fromBuilder = await announce(t, log, { builderServer, servers, followers });
  // 1,000 entries are 4 bundles (the last one partial): all at once, the builder would serve all 16.
  t.true(fromBuilder <= 11, `the builder served ${fromBuilder} of the ${4 * FOLLOWERS} bundles`);
});

test('no start delay for a sync far behind, or one asked for without gossip; a first sync that gossip brought waits like any small one', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 1000));
  const { logId } = log.key;
  const server = await startTileServer(log.store);
  t.teardown(() => server.stop());
  // Ten minutes, the longest draw: any delayed sync here would outlast the test.
  const f = await follower(
    t,
    log,
    () => [server.source],
    { syncJitterMs: 600_000, smallSyncEntries: 1000 },
    () => 1,
  );

  t.is(f.notify(logId, log.store.checkpoint()!.note, server.url), 'new'); // a first sync, delayed
  t.like(f.status(logId), { state: 'syncing', verifiedSize: 0, targetSize: 1000 });
  t.is(await f.refresh(logId), 1000); // asked for: it starts now
  await f.whenSynced(logId, 1000);

  await log.append(ENTRIES.slice(1000, 2500));
  t.is(f.notify(logId, log.store.checkpoint()!.note, server.url), 'new');
  await f.whenSynced(logId, 2500); // 1,500 behind: more than smallSyncEntries

  await log.append(ENTRIES.slice(2500, 2600));
  t.is(f.notify(logId, log.store.checkpoint()!.note, server.url), 'new'); // delayed
  t.like(f.status(logId), { state: 'syncing', verifiedSize: 2500, targetSize: 2600 });
  // Asked for (refresh finds the same checkpoint): the delayed sync starts now.
  t.is(await f.refresh(logId), 2600);
  await f.whenSynced(logId, 2600);
  t.is((await verifyLog(f.get(logId)!)).entries, 2600);
});
