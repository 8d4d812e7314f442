// Hostile builder, issue item 3: per-log quotas. A followed builder signs entries as big and as many as
// it likes; before the quotas a follower stored them all (entries up to 64 KiB, no byte limit per log,
// sync windows of 32 bundles whatever their bytes: ~0.5 GB each). Now an entry beyond sync.maxEntryBytes
// or sync.maxReferences, or a log beyond sync.maxLogBytes, fails the log with ERR_LOG_LIMIT naming the
// setting (no source blamed, no crash, nothing beyond the quota written), and a sync holds at most about
// sync.windowBytes of verified bundles. Real builders (real LevelDB, real HTTP tile servers), real
// followers on their own LevelDB.
import test, { type ExecutionContext } from 'ava';
import { LogLimitError } from '../../node/errors.ts';
import { openDatabase } from '../../node/store/database.ts';
import { decodeU64, logBytesKey, logPrefix } from '../../node/store/layout.ts';
import { LogStore } from '../../node/store/log-store.ts';
import { LogSync, type SyncProgress } from '../../node/sync/log-sync.ts';
import { hostileBuilder, type Victim, victim } from '../helpers/hostile.ts';
import { tempDir } from '../helpers/log-fixture.ts';
import { fingerprint, prng, randomNarHash, randomStorePath } from '../helpers/synthetic-entries.ts';

/** `count` entries of exactly the same length: `refs` references each, same names and sizes. */
function uniformEntries(count: number, refs: number, seed: number): string[] {
  const rand = prng(seed);
  return Array.from({ length: count }, () =>
    fingerprint(
      randomStorePath(rand, 'pkg-1.0'),
      randomNarHash(rand),
      1234,
      Array.from({ length: refs }, () => randomStorePath(rand, 'dep-1.0')),
    ),
  );
}

async function failsWith(t: ExecutionContext, v: Victim, logId: string, limit: LogLimitError['limit']) {
  const err = await t.throwsAsync(v.follower.whenSynced(logId), { instanceOf: LogLimitError });
  t.is((err as LogLimitError).limit, limit);
  const status = v.follower.status(logId);
  t.is(status?.state, 'failed');
  t.is(status?.error?.code, 'ERR_LOG_LIMIT');
  t.regex(status?.error?.message ?? '', new RegExp(`sync\\.${limit}`));
}

async function follow(t: ExecutionContext, entries: readonly string[], init: Parameters<typeof victim>[2]) {
  const builder = await hostileBuilder(t, entries);
  const v = await victim(t, [builder.source], { refreshOnFollow: false, ...init });
  const blamed: string[] = [];
  v.follower.addEventListener('source-failed', (e) => blamed.push(e.detail.reason));
  await v.followed.follow(builder.log.key.vkey, { name: 'hostile' });
  t.is(v.follower.notify(builder.log.key.logId, builder.log.store.checkpoint()!.note), 'new');
  return { builder, v, blamed };
}

test('an entry bigger than sync.maxEntryBytes fails the log, blames no source, and stores nothing of it', async (t) => {
  const big = uniformEntries(1, 400, 2)[0]!; // about 23 KiB
  const { builder, v, blamed } = await follow(t, [...uniformEntries(300, 3, 1), big], {
    maxEntryBytes: 8_192,
  });
  await failsWith(t, v, builder.log.key.logId, 'maxEntryBytes');
  t.is(v.follower.status(builder.log.key.logId)?.verifiedSize, 0);
  t.deepEqual(blamed, [], 'the entry is signed: the log is at fault, not its sources');
  // Not retried, even when the log grows.
  await builder.log.append(uniformEntries(10, 1, 3));
  t.is(v.follower.notify(builder.log.key.logId, builder.log.store.checkpoint()!.note), 'new');
  await failsWith(t, v, builder.log.key.logId, 'maxEntryBytes');
});

test('an entry with more references than sync.maxReferences fails the log', async (t) => {
  const { builder, v, blamed } = await follow(t, [...uniformEntries(20, 2, 4), ...uniformEntries(1, 65, 5)], {
    maxReferences: 64,
  });
  await failsWith(t, v, builder.log.key.logId, 'maxReferences');
  t.deepEqual(blamed, []);
});

test('a log past sync.maxLogBytes fails before writing past it, and again after a restart', async (t) => {
  // 2,048 entries of ~600 bytes (8 bundles of ~150 KiB); the quota lets in about three bundles.
  const entries = uniformEntries(2_048, 10, 6);
  const bundleBytes = 256 * (2 + entries[0]!.length);
  const maxLogBytes = Math.floor(3.5 * bundleBytes);
  const { builder, v, blamed } = await follow(t, entries, { maxLogBytes, stepBundles: 1 });
  const { logId } = builder.log.key;
  await failsWith(t, v, logId, 'maxLogBytes');
  t.deepEqual(blamed, []);
  const record = await v.db.get(logBytesKey(logPrefix(logId)));
  t.truthy(record, 'the stored bytes are counted');
  t.true(decodeU64(record!) <= maxLogBytes, 'nothing past the quota was written');
  // Steps within the quota were kept (staged); a step takes every verified bundle ready, so how many
  // fit depends on timing, but each is whole.
  t.true(decodeU64(record!) > 0 && decodeU64(record!) % bundleBytes === 0);

  // At restart the interrupted sync is resumed from its staged steps: the same verdict.
  await v.restart();
  await failsWith(t, v, logId, 'maxLogBytes');
});

test('a sync holds at most sync.windowBytes of verified bundles, however big the entries', async (t) => {
  // 24 bundles of ~400 KiB: 16 of them (a step by count) would be ~6 MiB; the window is 1.5 MiB.
  const entries = uniformEntries(24 * 256, 28, 7);
  const bundleBytes = 256 * (2 + entries[0]!.length);
  const windowBytes = Math.floor(1.5 * 1024 * 1024);
  t.true(bundleBytes * 4 < windowBytes * 1.2 && bundleBytes * 16 > windowBytes * 3);
  const builder = await hostileBuilder(t, entries);
  const dir = await tempDir('trustix-window-');
  const db = await openDatabase(`${dir}/db`);
  t.teardown(() => db.close());
  const store = await LogStore.open(db, builder.log.key);
  const sync = new LogSync({ db, store, sources: [builder.source] }, { windowBytes });
  let mostHeld = 0;
  sync.addEventListener('progress', (e: CustomEvent<SyncProgress>) => {
    const held = (e.detail.verified - e.detail.stored) * (2 + entries[0]!.length);
    mostHeld = Math.max(mostHeld, held);
  });
  const result = await sync.run(builder.log.store.checkpoint()!);
  t.is(result.toSize, entries.length);
  t.true(mostHeld <= windowBytes, `held ${mostHeld} bytes of verified bundles, window ${windowBytes}`);
  t.true(mostHeld > 0);
});
