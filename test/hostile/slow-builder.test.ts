// Hostile builder, issue item 4: a builder whose log is served slowly (here: every entry bundle answered
// after a second) held a sync slot until its sync ended, and every other followed log waited behind it.
// Now a sync yields its slot after its time slice when another log waits (resuming later from its staged
// steps), and a small catch-up gets an extra slot at once.
import type { ExecutionContext } from 'ava';
import test from 'ava';
import { openDatabase } from '../../node/store/database.ts';
import { LogStore } from '../../node/store/log-store.ts';
import type { FollowerInit } from '../../node/sync/follower.ts';
import { LogSync } from '../../node/sync/log-sync.ts';
import type { SourceFailedEvent, TileSource } from '../../node/sync/tile-source.ts';
import { victim } from '../helpers/hostile.ts';
import { openLogFixture, tempDir } from '../helpers/log-fixture.ts';
import { syntheticEntries } from '../helpers/synthetic-entries.ts';
import { startTileServer } from '../helpers/tile-servers.ts';

// 40 bundles, answered a second late each: 5 waves even with a source taking 8 at once (the HTTP source
// cap; a sync gives one source up to 16), so the slow sync is still running when the other log waits.
const SLOW_ENTRIES = 10_240;

async function served(t: ExecutionContext, entries: readonly string[], delayMs = 0) {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  for (let i = 0; i < entries.length; i += 5_000) await log.append(entries.slice(i, i + 5_000));
  const server = await startTileServer(log.store, {
    tamper: async (tile, body) => {
      if (delayMs > 0 && tile.kind === 'entries') await new Promise((r) => setTimeout(r, delayMs));
      return body;
    },
  });
  t.teardown(() => server.stop());
  return { log, source: server.source };
}

async function race(t: ExecutionContext, init: FollowerInit, otherEntries: number) {
  const slow = await served(t, [...syntheticEntries(SLOW_ENTRIES, 21)], 1_000);
  const other = await served(t, [...syntheticEntries(otherEntries, 22)]);
  const sources = new Map([
    [slow.log.key.logId, slow.source],
    [other.log.key.logId, other.source],
  ]);
  const v = await victim(t, (id) => [sources.get(id)!], {
    refreshOnFollow: false,
    maxConcurrentSyncs: 1,
    ...init,
  });
  for (const { log } of [slow, other])
    await v.followed.follow(log.key.vkey, { name: `log-${log.key.logId.slice(0, 6)}` });
  v.follower.notify(slow.log.key.logId, slow.log.store.checkpoint()!.note);
  // The slow sync holds the only slot once it has stored something.
  await new Promise<void>((resolve) => {
    const onProgress = () => {
      if ((v.follower.status(slow.log.key.logId)?.progress?.verified ?? 0) > 0) {
        v.follower.removeEventListener('progress', onProgress);
        resolve();
      }
    };
    v.follower.addEventListener('progress', onProgress);
  });
  v.follower.notify(other.log.key.logId, other.log.store.checkpoint()!.note);
  await v.follower.whenSynced(other.log.key.logId, otherEntries);
  t.true(
    (v.follower.status(slow.log.key.logId)?.verifiedSize ?? 0) < SLOW_ENTRIES,
    'the other log did not wait for the slow one',
  );
  await v.follower.whenSynced(slow.log.key.logId, SLOW_ENTRIES);
  t.like(v.follower.status(slow.log.key.logId), { state: 'ok', verifiedSize: SLOW_ENTRIES });
}

test('a slow sync yields its slot after its time slice to a log that waits, and completes later', async (t) => {
  await race(t, { sliceMs: 300, smallSyncEntries: 0 }, 1_000);
});

test('a small catch-up syncs in the extra slot while a slow sync holds the only one', async (t) => {
  await race(t, { sliceMs: 600_000 }, 300);
});

// Issue item 4, minimum throughput: a source answering each entry bundle after 3 s (well under the
// request timeout, so nothing else catches it) used to keep its share of every sync's requests. Now
// its first slow answer demotes it for the rest of the sync (reason 'slow', never a ban) while an honest
// source is left; alone, it is kept, so a log served only slowly still syncs.
async function syncFrom(
  t: ExecutionContext,
  sources: { log: Awaited<ReturnType<typeof served>>['log']; source: TileSource }[],
  entries: number,
) {
  const dir = await tempDir('trustix-slow-source-');
  const db = await openDatabase(`${dir}/db`);
  t.teardown(() => db.close());
  const store = await LogStore.open(db, sources[0]!.log.key);
  const sync = new LogSync(
    { db, store, sources: sources.map((s) => s.source) },
    { minBytesPerSecond: 64 * 1024, minRateGraceMs: 1_500 },
  );
  const failed: SourceFailedEvent[] = [];
  sync.addEventListener('source-failed', (e) => failed.push(e.detail));
  const result = await sync.run(sources[0]!.log.store.checkpoint()!);
  t.is(result.toSize, entries);
  return failed;
}

test('a source slower than the minimum throughput is demoted while an honest one is left, and kept when alone', async (t) => {
  const entries = [...syntheticEntries(1_024, 23)];
  const slow = await served(t, entries, 3_000);
  const honest = await startTileServer(slow.log.store);
  t.teardown(() => honest.stop());
  const failed = await syncFrom(t, [slow, { log: slow.log, source: honest.source }], entries.length);
  t.deepEqual(
    failed.map((f) => [f.sourceId, f.reason]),
    [[slow.source.id, 'slow']],
  );
  t.regex(failed[0]!.error.message, /bytes\/s\), below 65536/);

  t.deepEqual(await syncFrom(t, [slow], entries.length), [], 'a lone slow source is not dropped');
});

test('a slow source is kept when the only other source does not have the log (as a relay node that follows nothing)', async (t) => {
  const entries = [...syntheticEntries(1_024, 24)];
  const slow = await served(t, entries, 3_000);
  // Answers every request, with nothing: no checkpoint, every tile "not found". It was counted as an
  // alternative, so the slow source was dropped and the sync failed with no source left.
  const empty: TileSource = {
    id: 'holds-nothing',
    checkpoint: async () => undefined,
    tiles: async (_logId, tiles) => tiles.map(() => undefined),
  };
  t.deepEqual(await syncFrom(t, [slow, { log: slow.log, source: empty }], entries.length), []);
});
