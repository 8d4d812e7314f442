// The follower service over real LevelDB and real HTTP tile servers: follow, notify, refresh, status,
// one sync per log and a bound across logs, forks, failures and retries, resume after restart, unfollow.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { LogForkError } from '../node/errors.ts';
import { CheckpointMonitor } from '../node/monitor/checkpoint-monitor.ts';
import { type Database, openDatabase } from '../node/store/database.ts';
import { FollowedLogs } from '../node/store/followed-logs.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import { searchReason, type Tracked } from '../node/sync/follow-status.ts';
import { Follower, type FollowerInit } from '../node/sync/follower.ts';
import { HttpTileSource, type SourceFailedEvent, type TileSource } from '../node/sync/tile-source.ts';
import { verifyEvidence } from '../protocol/evidence.ts';
import { formatCheckpointMessage } from '../protocol/gossip-message.ts';
import { type LogFixture, openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';
import { startTileServer, type Tamper, type TileServer, tampers } from './helpers/tile-servers.ts';

const ENTRIES = [...syntheticEntries(4000, 11)];

async function builder(t: ExecutionContext, entries: readonly string[], secret?: LogFixture['secret']) {
  const log = await openLogFixture(secret === undefined ? {} : { secret });
  t.teardown(() => log.destroy());
  for (let i = 0; i < entries.length; i += 1000) await log.append(entries.slice(i, i + 1000));
  return log;
}

async function serve(t: ExecutionContext, log: LogFixture, tamper?: Tamper): Promise<TileServer> {
  const s = await startTileServer(log.store, tamper === undefined ? {} : { tamper });
  t.teardown(() => s.stop());
  return s;
}

interface Node {
  db: Database;
  followed: FollowedLogs;
  follower: Follower;
  failures: SourceFailedEvent[];
  restart(): Promise<void>;
}

/** A follower node on its own LevelDB; `sources(logId)` says where each log is served. */
async function node(
  t: ExecutionContext,
  sources: (logId: string, hint?: string) => readonly TileSource[],
  init: FollowerInit = {},
  isForked?: (db: Database, follower: () => Follower) => (logId: string) => boolean,
  connectedPeers?: () => number,
): Promise<Node> {
  const dir = await tempDir('trustix-follower-');
  const n = { failures: [] as SourceFailedEvent[] } as Node;
  const open = async () => {
    n.db = await openDatabase(join(dir, 'db'));
    n.followed = await FollowedLogs.open(n.db);
    n.follower = new Follower(
      {
        db: n.db,
        followed: n.followed,
        sourcesFor: sources,
        ...(isForked && { isForked: isForked(n.db, () => n.follower) }),
        ...(connectedPeers && { connectedPeers }),
      },
      init,
    );
    n.follower.addEventListener('source-failed', (e) => n.failures.push(e.detail));
    await n.follower.start();
  };
  const close = async () => {
    await n.follower.stop();
    await n.db.close();
  };
  n.restart = async () => {
    await close();
    await open();
  };
  await open();
  t.teardown(async () => {
    await close();
    await rm(dir, { recursive: true, force: true });
  });
  return n;
}

test('following a log fetches its checkpoint from the sources, syncs it, and notify keeps it current', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 3000));
  const servers = [await serve(t, log), await serve(t, log)];
  const n = await node(t, () => servers.map((s) => s.source));
  const logId = log.key.logId;

  await n.followed.follow(log.key.vkey, { name: 'builder-1', weight: 2 });
  await n.follower.whenSynced(logId, 3000);
  t.like(n.follower.status(logId), {
    name: 'builder-1',
    weight: 2,
    state: 'ok',
    size: 3000,
    verifiedSize: 3000,
    lag: 0,
  });
  t.deepEqual(n.follower.status(logId)?.sources, [servers[0]!.url, servers[1]!.url]);
  t.is((await verifyLog(n.follower.get(logId)!)).entries, 3000);

  await log.append(ENTRIES.slice(3000));
  const note = log.store.checkpoint()!.note;
  t.is(n.follower.notify(logId, note, servers[1]!.url), 'new');
  t.is(n.follower.notify(logId, note), 'old'); // already the target
  await n.follower.whenSynced(logId, 4000);
  t.like(n.follower.statuses()[0], { state: 'ok', verifiedSize: 4000, lag: 0 });
  t.is(n.follower.notify(logId, note), 'old');
  t.is(n.follower.notify(logId, note.slice(1)), 'invalid');
  t.is(n.follower.notify('0'.repeat(64), note), 'unfollowed');
  t.deepEqual(n.failures, []);
});

test('a followed log no source has answered is "searching", and is looked for again until a source answers', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 2000));
  const server = await serve(t, log);
  // The DHT names no provider at first (an empty routing table at start), then the builder.
  let providers: TileSource[] = [];
  let lookups = 0;
  let looked: () => void = () => {};
  const n = await node(
    t,
    () => {
      lookups++;
      looked();
      return providers;
    },
    { retryDelayMs: 20 },
  );
  const twice = new Promise<void>((resolve) => {
    looked = () => lookups >= 2 && resolve();
  });
  await n.followed.follow(log.key, { name: 'mercury' });
  await twice; // the first lookup found nobody, and it was tried again
  t.like(n.follower.status(log.key.logId), { state: 'searching', size: 0, verifiedSize: 0 });
  providers = [server.source];
  await n.follower.whenSynced(log.key.logId, 2000);
  t.like(n.follower.status(log.key.logId), { state: 'ok', size: 2000, verifiedSize: 2000 });
});

test('a searching log says why no source answered: isolated, no provider, unreachable, no checkpoint', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 100));
  const server = await serve(t, log);
  // A server of another log (it has no checkpoint of ours) and a port nobody listens on.
  const other = await serve(t, await builder(t, ENTRIES.slice(100, 200)));
  const refused = new HttpTileSource({ url: 'http://127.0.0.1:1/' });
  let peers = 0;
  let sources: TileSource[] = [];
  const n = await node(
    t,
    () => sources,
    { retryDelayMs: 10, maxSearchDelayMs: 20 },
    undefined,
    () => peers,
  );
  const logId = log.key.logId;
  const search = () => n.follower.status(logId)?.search;
  const until = (reason: string) => waitFor(`reason ${reason}`, () => search()?.reason === reason);
  await n.followed.follow(log.key, { name: 'mercury' });

  await until('isolated');
  t.regex(search()!.message, /^isolated: no peers connected/);
  peers = 3;
  await until('no-provider');
  t.regex(search()!.message, /^no provider found yet \(searched \d+ s ago; again in \d+ s\)$/);
  t.like(search(), { sources: 0, unreachable: 0, peers: 3 });
  t.true(search()!.searchedAt! <= Date.now() && search()!.nextSearchAt! >= search()!.searchedAt!);
  sources = [refused];
  await until('unreachable');
  t.regex(search()!.message, /^1 source found but unreachable \(searched \d+ s ago/);
  sources = [other.source, refused];
  await until('no-checkpoint');
  t.regex(
    search()!.message,
    /^2 sources found: 1 answered without a checkpoint of this log, 1 unreachable \(searched/,
  );
  t.like(search(), { sources: 2, unreachable: 1 });
  // Found: the log syncs, and a log that is not searching has no reason to give.
  sources = [server.source];
  await n.follower.whenSynced(logId, 100);
  t.is(search(), undefined);
  t.is(n.follower.status(logId)?.state, 'ok');
});

test('a source whose checkpoint does not verify is told apart from one without a checkpoint', (t) => {
  const lookup = { at: 1_000, sources: 3, unreachable: 1, invalid: 1 };
  const tracked = { lookup, search: setTimeout(() => {}, 0), nextLookupAt: 31_000 } as unknown as Tracked;
  clearTimeout(tracked.search);
  t.deepEqual(searchReason(tracked, 2, 11_000), {
    reason: 'no-checkpoint',
    message:
      '3 sources found: 1 answered without a checkpoint of this log, 1 with one that does not verify, 1 unreachable (searched 10 s ago; again in 20 s)',
    searchedAt: 1_000,
    nextSearchAt: 31_000,
    sources: 3,
    unreachable: 1,
    invalid: 1,
    peers: 2,
  });
});

test('logs sync one at a time per log and at most maxConcurrentSyncs at once, and all complete', async (t) => {
  const logs = [
    await builder(t, ENTRIES.slice(0, 1500)),
    await builder(t, ENTRIES.slice(1000, 2500)),
    await builder(t, ENTRIES.slice(2000, 3500)),
  ];
  const servers = new Map<string, TileServer>();
  for (const l of logs) servers.set(l.key.logId, await serve(t, l));
  let running = 0;
  let most = 0;
  const n = await node(
    t,
    (logId) => {
      running++;
      most = Math.max(most, running);
      return [servers.get(logId)!.source];
    },
    // No extra slot for small catch-ups here (1,500 entries would qualify): the bound itself is tested.
    { maxConcurrentSyncs: 1, smallSyncEntries: 0, refreshOnFollow: false },
  );
  n.follower.addEventListener('synced', () => running--);
  for (const [i, l] of logs.entries()) await n.followed.follow(l.key, { name: `builder-${i}` });
  for (const l of logs) t.is(n.follower.notify(l.key.logId, l.store.checkpoint()!.note), 'new');
  t.deepEqual(
    n.follower.statuses().map((s) => s.state),
    ['syncing', 'syncing', 'syncing'],
  );
  await Promise.all(logs.map((l) => n.follower.whenSynced(l.key.logId)));
  t.is(most, 1);
  t.deepEqual(
    n.follower.statuses().map((s) => [s.state, s.verifiedSize]),
    [
      ['ok', 1500],
      ['ok', 1500],
      ['ok', 1500],
    ],
  );
});

test('a fork offered by notify marks the log forked with evidence and stores nothing', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 3000));
  const fork = await builder(t, [...ENTRIES.slice(0, 1000), ...ENTRIES.slice(1500, 4000)], log.secret);
  const honest = await serve(t, log);
  const forked = await serve(t, fork);
  const n = await node(t, (_id, hint) => (hint === forked.url ? [forked.source] : [honest.source]));
  await n.followed.follow(log.key);
  await n.follower.whenSynced(log.key.logId, 3000);

  const forks: LogForkError[] = [];
  n.follower.addEventListener('fork', (e) => forks.push(e.detail.error));
  t.is(n.follower.notify(log.key.logId, fork.store.checkpoint()!.note, forked.url), 'new');
  await t.throwsAsync(n.follower.whenSynced(log.key.logId), { instanceOf: LogForkError });
  t.like(n.follower.status(log.key.logId), {
    state: 'forked',
    verifiedSize: 3000,
    error: { code: 'ERR_LOG_FORKED' },
  });
  t.is(forks.length, 1);
  t.notThrows(() => verifyEvidence(forks[0]!.evidence!.bytes, log.key.verifier));
  // A forked log stays forked: later checkpoints are not synced.
  await log.append(ENTRIES.slice(3000, 3100));
  t.is(n.follower.notify(log.key.logId, log.store.checkpoint()!.note), 'forked');
  t.is((await verifyLog(n.follower.get(log.key.logId)!)).entries, 3000);
});

test('a fork at the mirrored size shows the followed log forked as soon as the monitor holds evidence', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 3000));
  // The same key signing a second history of exactly the same size: no sync ever reaches it.
  const fork = await builder(t, [...ENTRIES.slice(0, 1000), ...ENTRIES.slice(1500, 3500)], log.secret);
  t.is(fork.store.size, 3000);
  const honest = await serve(t, log);
  let monitor: CheckpointMonitor | undefined;
  const n = await node(
    t,
    () => [honest.source],
    {},
    (db, follower) => {
      monitor = new CheckpointMonitor({ db, logs: { get: (id) => follower().get(id) } });
      return (id) => monitor!.isForked(id);
    },
  );
  await monitor!.start();
  await n.followed.follow(log.key);
  await n.follower.whenSynced(log.key.logId, 3000);
  t.is(n.follower.status(log.key.logId)?.state, 'ok');

  const verdict = await monitor!.validate(
    formatCheckpointMessage(log.key.vkey, fork.store.checkpoint()!.note),
  );
  t.like(verdict, { decision: 'accept', outcome: 'fork' });
  t.true(monitor!.isForked(log.key.logId));
  t.like(n.follower.status(log.key.logId), { state: 'forked', size: 3000, verifiedSize: 3000 });
  // And it stays forked: a larger honest checkpoint is not synced.
  await log.append(ENTRIES.slice(3000, 3100));
  t.is(n.follower.notify(log.key.logId, log.store.checkpoint()!.note), 'forked');
});

test('a failed sync is reported and retried; a newer checkpoint from an honest source recovers it', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 2000));
  const bad = await serve(t, log, tampers.bundleByte);
  const good = await serve(t, log);
  let honest = false;
  const n = await node(t, () => [honest ? good.source : bad.source], {
    refreshOnFollow: false,
    retryDelayMs: 60_000,
  });
  await n.followed.follow(log.key);
  const failed = new Promise<Error>((resolve) =>
    n.follower.addEventListener('sync-failed', (e) => resolve(e.detail.error), {
      once: true,
    }),
  );
  n.follower.notify(log.key.logId, log.store.checkpoint()!.note);
  t.is((await failed).name, 'SyncFailedError');
  t.like(n.follower.status(log.key.logId), { state: 'failed', verifiedSize: 0, size: 2000, lag: 2000 });
  t.like(n.failures[0], { sourceId: bad.url, reason: 'invalid' });

  honest = true;
  await log.append(ENTRIES.slice(2000, 2100));
  t.is(n.follower.notify(log.key.logId, log.store.checkpoint()!.note), 'new'); // retried now, not in a minute
  await n.follower.whenSynced(log.key.logId, 2100);
  t.like(n.follower.status(log.key.logId), { state: 'ok', verifiedSize: 2100 });
  t.is(n.follower.status(log.key.logId)?.error, undefined);
});

test('refresh takes the largest valid checkpoint and reports a source whose checkpoint does not verify', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 500));
  const other = await builder(t, ENTRIES.slice(0, 700));
  const good = await serve(t, log);
  const liar: TileSource = {
    id: 'liar',
    checkpoint: async () => other.store.checkpoint()!.note, // another key's note
    tiles: async () => {
      throw new Error('not asked');
    },
  };
  const n = await node(t, () => [liar, good.source], { refreshOnFollow: false });
  await n.followed.follow(log.key);
  t.is(await n.follower.refresh(log.key.logId), 500);
  await n.follower.whenSynced(log.key.logId, 500);
  t.like(n.failures, [{ sourceId: 'liar', reason: 'invalid' }]);
});

test('a follower stopped in the middle of a sync resumes it on start, without being told again', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 3000));
  const server = await serve(t, log);
  const n = await node(t, () => [server.source], {
    stepBundles: 2,
    windowBundles: 2,
    maxConcurrency: 1,
    refreshOnFollow: false,
  });
  await n.followed.follow(log.key);
  let stored = 0;
  const staged = new Promise<void>((resolve) =>
    n.follower.addEventListener('progress', (e) => {
      stored = e.detail.stored;
      if (stored >= 1024) resolve();
    }),
  );
  n.follower.notify(log.key.logId, log.store.checkpoint()!.note);
  await staged;
  await n.restart(); // stops mid-sync, reopens the database and the follower
  const before = server.served.entries.length;
  t.true(stored >= 1024 && stored < 3000);
  t.true(['syncing', 'ok'].includes(n.follower.status(log.key.logId)!.state));
  await n.follower.whenSynced(log.key.logId, 3000);
  // Bundles staged before the restart were not fetched again after it.
  const after = server.served.entries.slice(before).map((e) => e.index);
  t.true(after.length > 0 && Math.min(...after) >= stored / 256, `staged ${stored}, fetched ${after}`);
  t.is(server.served.entries.filter((e) => e.index === 0).length, 1);
  t.is((await verifyLog(n.follower.get(log.key.logId)!)).entries, 3000);
});

test('unfollow stops the sync and forgets the status; following again continues from the stored data', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 3000));
  const server = await serve(t, log, (tile, body) =>
    tile.kind === 'entries' && tile.index >= 6 ? new Promise((r) => setTimeout(() => r(body), 100)) : body,
  );
  const n = await node(t, () => [server.source], {
    stepBundles: 2,
    windowBundles: 2,
    refreshOnFollow: false,
  });
  await n.followed.follow(log.key);
  n.follower.notify(log.key.logId, log.store.checkpoint()!.note);
  await new Promise((r) => setTimeout(r, 50));
  await n.followed.unfollow(log.key.logId);
  t.is(n.follower.status(log.key.logId), undefined);
  t.is(n.follower.get(log.key.logId), undefined);

  await n.followed.follow(log.key);
  await new Promise((r) => setTimeout(r, 10));
  n.follower.notify(log.key.logId, log.store.checkpoint()!.note);
  await n.follower.whenSynced(log.key.logId, 3000);
  t.is((await verifyLog(n.follower.get(log.key.logId)!)).entries, 3000);
});

test('an excluded log (the own log of the node) is never opened or synced, even when followed', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 300));
  const server = await serve(t, log);
  const n = await node(t, () => [server.source], { exclude: [log.key.logId] });
  await n.followed.follow(log.key);
  t.is(n.follower.notify(log.key.logId, log.store.checkpoint()!.note), 'unfollowed');
  t.is(await n.follower.refresh(log.key.logId), undefined);
  t.is(n.follower.get(log.key.logId), undefined);
  t.deepEqual(n.follower.statuses(), []);
  t.deepEqual(server.served.hash, []);
});
