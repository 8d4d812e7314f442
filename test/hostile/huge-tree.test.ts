// Hostile builder, issue item 1: a validly signed checkpoint claiming a huge tree (2^40 entries, or far
// more new entries than a sync may take in) must leave the follower `failed` with ERR_LOG_LIMIT, its
// copy intact, and must do so again after a restart (no crash, no crash loop). Before the limits the
// sync planned every tile of the claimed tree up front and ran out of memory.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { LogLimitError } from '../../node/errors.ts';
import { type Database, openDatabase } from '../../node/store/database.ts';
import { FollowedLogs } from '../../node/store/followed-logs.ts';
import { Follower, type FollowerInit } from '../../node/sync/follower.ts';
import type { TileSource } from '../../node/sync/tile-source.ts';
import { signCheckpoint } from '../../protocol/checkpoint.ts';
import { logSigner } from '../../protocol/keys.ts';
import { type LogFixture, openLogFixture, tempDir } from '../helpers/log-fixture.ts';
import { syntheticEntries } from '../helpers/synthetic-entries.ts';
import { startTileServer } from '../helpers/tile-servers.ts';

/** An honest-looking builder (real log, real HTTP tile server) that can sign any checkpoint it likes. */
async function hostileBuilder(t: ExecutionContext, entries: number) {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  await log.append([...syntheticEntries(entries, 5)]);
  const server = await startTileServer(log.store);
  t.teardown(() => server.stop());
  const claim = (size: number) =>
    signCheckpoint(
      { origin: log.store.checkpoint()!.origin, size, root: randomBytes(32), extensions: [] },
      logSigner(log.secret),
    );
  return { log, source: server.source, claim };
}

interface Victim {
  follower: Follower;
  followed: FollowedLogs;
  restart(): Promise<void>;
}

async function victim(
  t: ExecutionContext,
  sources: readonly TileSource[],
  init: FollowerInit = {},
): Promise<Victim> {
  const dir = await tempDir('trustix-hostile-');
  let db: Database;
  const v = {} as Victim;
  const open = async () => {
    db = await openDatabase(join(dir, 'db'));
    v.followed = await FollowedLogs.open(db);
    v.follower = new Follower({ db, followed: v.followed, sourcesFor: () => sources }, init);
    await v.follower.start();
  };
  const close = async () => {
    await v.follower.stop();
    await db.close();
  };
  v.restart = async () => {
    await close();
    await open();
  };
  await open();
  t.teardown(async () => {
    await close();
    await rm(dir, { recursive: true, force: true });
  });
  return v;
}

async function failsWithLimit(
  t: ExecutionContext,
  v: Victim,
  log: LogFixture,
  limit: LogLimitError['limit'],
) {
  const err = await t.throwsAsync(v.follower.whenSynced(log.key.logId), { instanceOf: LogLimitError });
  t.is((err as LogLimitError).limit, limit);
  t.like(v.follower.status(log.key.logId), { state: 'failed', verifiedSize: 300 });
  t.is(v.follower.status(log.key.logId)?.error?.code, 'ERR_LOG_LIMIT');
  t.regex(v.follower.status(log.key.logId)?.error?.message ?? '', new RegExp(`sync\\.${limit}`));
}

test('a signed 2^40 checkpoint fails the log (maxTreeSize), keeps its copy, and fails again after a restart', async (t) => {
  const builder = await hostileBuilder(t, 300);
  const v = await victim(t, [builder.source], { refreshOnFollow: false });
  const { logId, vkey } = builder.log.key;
  await v.followed.follow(vkey, { name: 'hostile' });
  t.is(v.follower.notify(logId, builder.log.store.checkpoint()!.note), 'new');
  await v.follower.whenSynced(logId, 300);

  const huge = builder.claim(2 ** 40);
  t.is(v.follower.notify(logId, huge), 'new');
  await failsWithLimit(t, v, builder.log, 'maxTreeSize');
  // Not retried, not even when the builder claims more.
  t.is(v.follower.notify(logId, builder.claim(2 ** 41)), 'new');
  await failsWithLimit(t, v, builder.log, 'maxTreeSize');

  // At restart the node hands the follower the newest checkpoint it saw again: same verdict, no crash.
  await v.restart();
  t.is(v.follower.notify(logId, huge), 'new');
  await failsWithLimit(t, v, builder.log, 'maxTreeSize');
});

test('a checkpoint growing the log by more than maxGrowth fails the log before anything is fetched', async (t) => {
  const builder = await hostileBuilder(t, 300);
  const v = await victim(t, [builder.source], { refreshOnFollow: false });
  const { logId, vkey } = builder.log.key;
  await v.followed.follow(vkey, { name: 'hostile' });
  t.is(v.follower.notify(logId, builder.log.store.checkpoint()!.note), 'new');
  await v.follower.whenSynced(logId, 300);
  // 2^31 is below the default maxTreeSize (2^32) but grows the copy by far more than 2^26 entries.
  t.is(v.follower.notify(logId, builder.claim(2 ** 31)), 'new');
  await failsWithLimit(t, v, builder.log, 'maxGrowth');
});

test('the limits are settings: a lower maxTreeSize refuses a modest honest-looking claim', async (t) => {
  const builder = await hostileBuilder(t, 300);
  const v = await victim(t, [builder.source], { refreshOnFollow: false, maxTreeSize: 1000 });
  const { logId, vkey } = builder.log.key;
  await v.followed.follow(vkey, { name: 'hostile' });
  t.is(v.follower.notify(logId, builder.log.store.checkpoint()!.note), 'new');
  await v.follower.whenSynced(logId, 300);
  t.is(v.follower.notify(logId, builder.claim(1001)), 'new');
  await failsWithLimit(t, v, builder.log, 'maxTreeSize');
});
