/**
 * Upload slots (node/network/upload-slots.ts): the peers a node serves one log's entry bundles to at
 * once. Pure bookkeeping, driven here by an explicit clock (ms).
 */
import test from 'ava';
import { UploadSlots } from '../node/network/upload-slots.ts';

const LOG = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);

test('up to `slots` peers per log are served, the next is told busy; another log has slots of its own', (t) => {
  const slots = new UploadSlots({ slots: 2 });
  t.true(slots.admit(LOG, 'p1', true, 0));
  t.true(slots.admit(LOG, 'p2', true, 10));
  t.false(slots.admit(LOG, 'p3', true, 20));
  t.true(slots.admit(LOG, 'p1', true, 30), 'a holder keeps its slot while it asks');
  t.true(slots.admit(OTHER, 'p3', true, 40));
  t.deepEqual(slots.holders(LOG, 50), ['p1', 'p2']);
});

test('a holder idle for `idleMs` gives its slot up to the next peer that asks', (t) => {
  const slots = new UploadSlots({ slots: 1, idleMs: 1_000 });
  t.true(slots.admit(LOG, 'p1', true, 0));
  t.true(slots.admit(LOG, 'p1', true, 900));
  t.false(slots.admit(LOG, 'p2', true, 1_800), 'p1 asked 900 ms ago');
  t.true(slots.admit(LOG, 'p2', true, 1_900), 'p1 has been idle for 1 s');
  t.deepEqual(slots.holders(LOG, 1_900), ['p2']);
  t.false(slots.admit(LOG, 'p1', true, 1_950), 'p1, back, waits now');
});

test('a slot held `holdMs` is taken back only while another peer waits, and its holder yields for `holdMs`', (t) => {
  const slots = new UploadSlots({ slots: 1, idleMs: 1_000, holdMs: 10_000, waitMs: 3_000 });
  // Alone, p1 keeps its slot however long its sync runs.
  for (let now = 0; now <= 20_000; now += 500) t.true(slots.admit(LOG, 'p1', true, now));
  t.false(slots.admit(LOG, 'p2', true, 20_100));
  // p2 waits: p1's next request loses the slot, which p2 takes when it asks again.
  t.false(slots.admit(LOG, 'p1', true, 20_200));
  t.true(slots.admit(LOG, 'p2', true, 20_600));
  // p2 holds it now; p1 waits (asking every 2 s here; a sync asks at least every second), so after 10 s p2 yields in turn.
  for (let now = 21_000; now <= 30_500; now += 500) {
    t.true(slots.admit(LOG, 'p2', true, now), 'held under 10 s');
    if (now % 2_000 === 0) t.false(slots.admit(LOG, 'p1', true, now + 1));
  }
  t.false(slots.admit(LOG, 'p2', true, 30_700), 'held 10.1 s while p1 waits');
  t.false(slots.admit(LOG, 'p2', true, 30_750), 'rotated out: it yields to the waiting p1');
  t.true(slots.admit(LOG, 'p1', true, 30_800));
});

test('a benched peer takes a free slot when nobody else waits', (t) => {
  const slots = new UploadSlots({ slots: 1, idleMs: 1_000, holdMs: 10_000, waitMs: 3_000 });
  for (let now = 0; now < 10_000; now += 500) t.true(slots.admit(LOG, 'p1', true, now));
  t.false(slots.admit(LOG, 'p2', true, 9_600));
  t.false(slots.admit(LOG, 'p1', true, 10_000), 'rotated out: benched until 20 s');
  t.true(slots.admit(LOG, 'p2', true, 10_200));
  // p2 finishes (idle from 10.2 s); by 14 s nobody has been told busy for 3 s.
  t.true(slots.admit(LOG, 'p1', true, 14_000), 'benched, but nobody waits');
});

test('the peers remembered as waiting are bounded per log', (t) => {
  const slots = new UploadSlots({ slots: 1, maxWaiting: 8, waitMs: 60_000 });
  t.true(slots.admit(LOG, 'holder', true, 0));
  for (let i = 0; i < 1_000; i++) t.false(slots.admit(LOG, `sybil-${i}`, true, 1));
  // Only the 8 newest are remembered: memory stays bounded whatever the number of peer IDs.
  const state = (slots as unknown as { logs: Map<string, { waiting: Map<string, number> }> }).logs.get(LOG);
  t.is(state?.waiting.size, 8);
});

test('settings must be positive integers', (t) => {
  t.throws(() => new UploadSlots({ slots: 0 }), { instanceOf: RangeError });
  t.throws(() => new UploadSlots({ holdMs: 1.5 }), { instanceOf: RangeError });
});

test('past `fanout` peers served in the window, a new peer is refused until `patienceMs`, and learns who was served', (t) => {
  const slots = new UploadSlots({ slots: 8, fanout: 2, fanoutWindowMs: 10_000, patienceMs: 2_000 });
  t.true(slots.admit(LOG, 'p1', true, 0));
  t.true(slots.admit(LOG, 'p2', true, 100));
  t.false(slots.admit(LOG, 'p3', true, 200), 'two peers served: p3 is referred to them');
  t.deepEqual(slots.recipients(LOG, 'p3', 8, 200), ['p2', 'p1'], 'newest first, without the asker');
  t.deepEqual(slots.recipients(LOG, 'p1', 1, 200), ['p2'], 'at most `max`, never the asker');
  t.false(slots.admit(LOG, 'p4', true, 250));
  t.deepEqual(
    slots.recipients(LOG, 'x', 8, 250),
    ['p2', 'p1', 'p3', 'p4'],
    'then the peers referred, longest referred first',
  );
  t.true(slots.admit(LOG, 'p1', true, 300), 'a peer served lately goes on being served');
  t.true(slots.admit(LOG, 'p3', false, 400), 'a partial bundle (the tip) is never refused so');
  t.false(slots.admit(LOG, 'p3', true, 2_100), 'refused since 200 ms: 1.9 s of patience');
  t.true(slots.admit(LOG, 'p3', true, 2_200), 'out of patience: served');
  t.deepEqual(slots.recipients(LOG, 'x', 8, 2_200), ['p3', 'p1', 'p2', 'p4']);
  t.true(slots.admit(OTHER, 'p4', true, 2_300), 'another log has a fan-out of its own');
});

test('a peer served counts towards the fan-out for `fanoutWindowMs`, then the next peers are served', (t) => {
  const slots = new UploadSlots({ fanout: 1, fanoutWindowMs: 10_000, idleMs: 300 });
  t.true(slots.admit(LOG, 'p1', true, 0));
  t.false(slots.admit(LOG, 'p2', true, 5_000));
  t.true(slots.admit(LOG, 'p3', true, 10_001), 'p1 was served over 10 s ago');
  t.deepEqual(slots.recipients(LOG, 'x', 8, 10_001), ['p3', 'p2'], 'p2, referred at 5 s, still named');
  t.deepEqual(slots.recipients(LOG, 'x', 8, 30_000), [], 'and every record ends with its window');
  const state = (slots as unknown as { logs: Map<string, unknown> }).logs;
  t.false(state.has(LOG), 'a log with nobody left is forgotten');
});

test('the peers remembered as refused for the fan-out are bounded per log', (t) => {
  const slots = new UploadSlots({ fanout: 1, maxWaiting: 8, patienceMs: 60_000 });
  t.true(slots.admit(LOG, 'first', true, 0));
  for (let i = 0; i < 1_000; i++) t.false(slots.admit(LOG, `sybil-${i}`, true, 1));
  const state = (slots as unknown as { logs: Map<string, { refused: Map<string, number> }> }).logs.get(LOG);
  t.is(state?.refused.size, 8);
});
