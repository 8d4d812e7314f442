// Hostile builder, issue item 4: a builder whose log is served slowly (here: every entry bundle answered
// after a second) held a sync slot until its sync ended, and every other followed log waited behind it.
// Now a sync yields its slot after its time slice when another log waits (resuming later from its staged
// steps), and a small catch-up gets an extra slot at once.
import type { ExecutionContext } from 'ava';
import test from 'ava';
import type { FollowerInit } from '../../node/sync/follower.ts';
import { victim } from '../helpers/hostile.ts';
import { openLogFixture } from '../helpers/log-fixture.ts';
import { syntheticEntries } from '../helpers/synthetic-entries.ts';
import { startTileServer } from '../helpers/tile-servers.ts';

const SLOW_ENTRIES = 2_560;

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
