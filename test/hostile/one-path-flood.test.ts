// Hostile builder, issue item 2: thousands of entries for one store path. The follower keeps at most
// MAX_PATH_ENTRIES + 1 of them in its path index (a record that is never rewritten whole again), the log
// abstains on that path ('overfull') while its other paths still vote, the copy still verifies, and the
// statistics record stays bounded. Before the cap every step rewrote a record of all the path's indices,
// the vote read them all one at a time and de-duplicated with Array.includes (quadratic).
import test from 'ava';
import { addToRecord, decodeRecord } from '../../node/stats/repro-record.ts';
import { MAX_PATH_ENTRIES } from '../../node/store/layout.ts';
import { verifyLog } from '../../node/store/log-verifier.ts';
import { createDeciderChain } from '../../node/vote/decider.ts';
import { Decisions } from '../../node/vote/decisions.ts';
import { parseStorePath } from '../../protocol/store-path.ts';
import { hostileBuilder, victim } from '../helpers/hostile.ts';
import { openLogFixture } from '../helpers/log-fixture.ts';
import {
  fingerprint,
  prng,
  randomNarHash,
  randomStorePath,
  syntheticEntries,
} from '../helpers/synthetic-entries.ts';

const FLOOD = 3000;
const rand = prng(19);
const PATH = randomStorePath(rand, 'flooded-1.0');
const HASH_PART = parseStorePath(PATH).hashPart;
const NORMAL = [...syntheticEntries(300, 7)];
const FLOODED = Array.from({ length: FLOOD }, (_, i) => fingerprint(PATH, randomNarHash(rand), 1000 + i, []));

test('a log with thousands of entries for one path: bounded index record, the log abstains there only, the copy verifies', async (t) => {
  const builder = await hostileBuilder(t, [...NORMAL.slice(0, 150), ...FLOODED, ...NORMAL.slice(150)]);
  const v = await victim(t, [builder.source], { refreshOnFollow: false });
  const { logId, vkey } = builder.log.key;
  await v.followed.follow(vkey, { name: 'hostile' });
  t.is(v.follower.notify(logId, builder.log.store.checkpoint()!.note), 'new');
  const size = NORMAL.length + FLOOD;
  await v.follower.whenSynced(logId, size);
  const store = v.follower.get(logId)!;

  // The stored record: MAX_PATH_ENTRIES + 1 indices (8 bytes each), the first ones.
  const record = await v.db.get(store.pathIndexKey(HASH_PART));
  t.is(record?.length, (MAX_PATH_ENTRIES + 1) * 8);
  t.deepEqual(
    await store.indicesForPath(HASH_PART),
    Array.from({ length: MAX_PATH_ENTRIES + 1 }, (_, i) => 150 + i),
  );
  t.is((await verifyLog(store)).entries, size);

  const decisions = new Decisions({
    followed: v.followed,
    store: (id) => v.follower.get(id),
    isForked: () => false,
    chain: await createDeciderChain([
      { kind: 'threshold', count: 1, fraction: { numerator: 1, denominator: 2 } },
    ]),
  });
  decisions.start();
  t.teardown(() => decisions.stop());
  const flooded = await decisions.decide(HASH_PART);
  t.is(flooded.fingerprint, undefined);
  t.deepEqual(flooded.abstentions, [{ log: 'hostile', reason: 'overfull', fingerprints: [] }]);
  t.true(flooded.votes[0]?.overfull);
  // Its other paths still vote.
  const normal = parseStorePath(NORMAL[200]!.split(';')[1]!).hashPart;
  t.is((await decisions.decide(normal)).fingerprint, NORMAL[200]);
});

test('the statistics record keeps at most MAX_PATH_ENTRIES + 1 values of one log for one path', (t) => {
  const digests = FLOODED.map((_, i) => i.toString(16).padStart(16, '0'));
  const change = addToRecord(undefined, 1, digests)!;
  t.is(decodeRecord(change.record).length, MAX_PATH_ENTRIES + 1);
  t.is(change.after, 'inconclusive');
  // Another log's single value is kept; the flooded log's further values are not.
  const other = addToRecord(change.record, 2, ['x'.repeat(16)])!;
  t.is(decodeRecord(other.record).length, MAX_PATH_ENTRIES + 2);
  t.is(other.after, 'mismatch');
  t.is(addToRecord(other.record, 1, ['y'.repeat(16)]), undefined);
});

// Issue item 6: the builder's own log. Its sequencer took every new fingerprint of a path, so an honest
// node rebuilding one path over and over built a log its followers cap (they abstain past 64 entries).
// Now it takes at most MAX_PATH_ENTRIES per path and refuses the rest (ERR_PATH_FULL), other paths unhurt.
test("the builder's own log takes at most MAX_PATH_ENTRIES entries for one path and refuses the rest", async (t) => {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  const refused: string[] = [];
  log.sequencer.addEventListener('rejected', (e) => {
    t.is((e.detail.error as { code?: string }).code, 'ERR_PATH_FULL');
    refused.push((e.detail.submission as { entry: string }).entry);
  });
  // Two batches: the cap holds within one batch and across batches.
  await log.append([...FLOODED.slice(0, 40), NORMAL[0]!]);
  await log.append([...FLOODED.slice(40, 100), NORMAL[1]!]);
  t.is(log.store.size, MAX_PATH_ENTRIES + 2);
  t.deepEqual(refused, FLOODED.slice(MAX_PATH_ENTRIES, 100));
  const record = await log.db.get(log.store.pathIndexKey(HASH_PART));
  t.is(record!.length, MAX_PATH_ENTRIES * 8);
  t.is((await verifyLog(log.store)).entries, MAX_PATH_ENTRIES + 2);
});
