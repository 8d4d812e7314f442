// Hostile builder, issue item 1: a validly signed checkpoint claiming a huge tree (2^40 entries, or far
// more new entries than a sync may take in) must leave the follower `failed` with ERR_LOG_LIMIT, its
// copy intact, and must do so again after a restart (no crash, no crash loop). Before the limits the
// sync planned every tile of the claimed tree up front and ran out of memory.
import test, { type ExecutionContext } from 'ava';
import { LogLimitError } from '../../node/errors.ts';
import { hostileBuilder, type Victim, victim } from '../helpers/hostile.ts';
import type { LogFixture } from '../helpers/log-fixture.ts';
import { syntheticEntries } from '../helpers/synthetic-entries.ts';

const ENTRIES = [...syntheticEntries(300, 5)];

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
  const builder = await hostileBuilder(t, ENTRIES);
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
  const builder = await hostileBuilder(t, ENTRIES);
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
  const builder = await hostileBuilder(t, ENTRIES);
  const v = await victim(t, [builder.source], { refreshOnFollow: false, maxTreeSize: 1000 });
  const { logId, vkey } = builder.log.key;
  await v.followed.follow(vkey, { name: 'hostile' });
  t.is(v.follower.notify(logId, builder.log.store.checkpoint()!.note), 'new');
  await v.follower.whenSynced(logId, 300);
  t.is(v.follower.notify(logId, builder.claim(1001)), 'new');
  await failsWithLimit(t, v, builder.log, 'maxTreeSize');
});
