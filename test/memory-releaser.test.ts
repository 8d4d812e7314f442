/**
 * The memory releaser in this process (ava runs each test file in its own process): a burst of garbage
 * and freed buffers is given back to the OS once the process is at rest, not while it is busy nor
 * without growth (except once, at the first rest after start); `gc` is not left exposed to later contexts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import test from 'ava';
import { type MemoryRelease, MemoryReleaser } from '../node/runtime/memory-releaser.ts';

const MB = 1e6;

/**
 * What a sync leaves: a grown JavaScript heap full of garbage, and 96 MB of 16 KiB buffers (allocated
 * by malloc, outside V8's heap) freed with a few survivors among them, so glibc cannot hand the freed
 * memory back from the top of its heap by itself.
 */
async function burst(): Promise<unknown[]> {
  const survivors: unknown[] = [];
  let garbage: unknown[] = [];
  for (let i = 0; i < 6144; i++) {
    const buffer = Buffer.alloc(16 * 1024, i);
    garbage.push(buffer, { i, text: `entry ${i}`, list: [i, i + 1] });
    if (i % 64 === 0) survivors.push(buffer);
  }
  for (let i = 0; i < 300_000; i++) garbage.push({ i, text: `object ${i}` });
  garbage = [];
  await sleep(10);
  return survivors;
}

test.serial('a release gives back the heap and the freed buffers a burst left', async (t) => {
  const releaser = new MemoryReleaser({ intervalMs: 60_000, secondPassDelayMs: 1000 });
  await releaser.start();
  t.teardown(() => releaser.stop());
  const survivors = await burst();
  const heapBefore = getHeapStatistics().total_heap_size;
  const release = await releaser.release();
  t.log(`RSS ${Math.round(release.before / MB)} -> ${Math.round(release.after / MB)} MB`);
  t.true(release.trimmed, 'glibc and koffi are here: free pages are trimmed');
  t.true(release.before - release.after > 60 * MB, 'most of the burst went back');
  t.true(getHeapStatistics().total_heap_size < heapBefore, 'the JavaScript heap shrank');
  t.is(survivors.length, 96, 'what is still referenced stays');
  t.is(runInNewContext('typeof gc'), 'undefined', 'gc is not exposed to other contexts');
});

test.serial(
  'the releaser waits for rest: not without growth, not while the event loop is busy',
  async (t) => {
    const releaser = new MemoryReleaser({
      intervalMs: 100,
      minGrowthBytes: 32 * 1024 * 1024,
      secondPassDelayMs: 500,
      afterStart: false,
    });
    const released: MemoryRelease[] = [];
    releaser.addEventListener('released', (e) => released.push(e.detail));
    await releaser.start();
    t.teardown(() => releaser.stop());

    await sleep(500);
    t.deepEqual(released, [], 'no growth since start: nothing to release');

    const survivors = await burst();
    // Busy: 90 ms of work in every 100 ms, for a second.
    const end = Date.now() + 1000;
    while (Date.now() < end) {
      const until = Date.now() + 90;
      while (Date.now() < until) survivors.length;
      await sleep(10);
    }
    t.deepEqual(released, [], 'the loop was busy throughout');

    // At rest: released within a few intervals.
    for (let i = 0; i < 50 && released.length === 0; i++) await sleep(100);
    t.is(released.length, 1);
    t.true(released[0]!.before - released[0]!.after > 60 * MB);
  },
);

test.serial(
  'by default the first rest after start releases, whatever the growth: starting is a burst',
  async (t) => {
    await burst();
    const releaser = new MemoryReleaser({ intervalMs: 100, secondPassDelayMs: 500 });
    const released: MemoryRelease[] = [];
    releaser.addEventListener('released', (e) => released.push(e.detail));
    await releaser.start();
    t.teardown(() => releaser.stop());
    for (let i = 0; i < 50 && released.length === 0; i++) await sleep(100);
    t.is(released.length, 1, 'released at the first rest');
    t.true(released[0]!.before - released[0]!.after > 30 * MB, 'what the start left went back');
    await sleep(1000);
    t.is(released.length, 1, 'then only after growth');
  },
);

test.serial(
  'a rest after a burst releases even when an earlier release in the burst left the resident set high',
  async (t) => {
    // A long sync: a lull in it (the node waiting on its sources) releases while the sync's buffers are
    // still live; the sync then goes on, drops them and comes to rest without growing the resident set.
    const releaser = new MemoryReleaser({
      intervalMs: 100,
      minGrowthBytes: 32 * 1024 * 1024,
      minBusyMs: 1000,
      secondPassDelayMs: 500,
      afterStart: false,
    });
    const released: MemoryRelease[] = [];
    releaser.addEventListener('released', (e) => released.push(e.detail));
    await releaser.start();
    t.teardown(() => releaser.stop());

    let live: Buffer[] = [];
    for (let i = 0; i < 6144; i++) live.push(Buffer.alloc(16 * 1024, i));
    for (let i = 0; i < 50 && released.length === 0; i++) await sleep(100);
    t.is(released.length, 1, 'the lull released, the burst still live');
    const high = released[0]!.after;

    // The burst goes on, busy (90 ms of work in every 100 ms) for 1.5 s, and drops its buffers but a
    // few, so glibc cannot return the freed memory from the top of its heap: the resident set stays.
    const survivors = live.filter((_, i) => i % 64 === 0);
    live = [];
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      const until = Date.now() + 90;
      while (Date.now() < until) survivors.length;
      await sleep(10);
    }
    t.is(released.length, 1, 'the loop was busy throughout');
    t.true(process.memoryUsage.rss() < high + 32 * 1024 * 1024, 'no growth past the mark of the lull');

    for (let i = 0; i < 50 && released.length === 1; i++) await sleep(100);
    t.is(released.length, 2, 'the rest after the burst released');
    const second = released[1]!;
    t.log(`RSS ${Math.round(second.before / MB)} -> ${Math.round(second.after / MB)} MB`);
    t.true(second.before - second.after > 60 * MB, 'the freed buffers went back');
    t.is(survivors.length, 96);

    await sleep(1000);
    t.is(released.length, 2, 'then no release without work or growth');
  },
);

test.serial(
  'no release while the node says it is working (a sync waiting on its sources), then at rest',
  async (t) => {
    let working = true;
    const releaser = new MemoryReleaser({
      intervalMs: 100,
      secondPassDelayMs: 500,
      trimDelayMs: 100,
      afterStart: false,
      working: () => working,
    });
    const released: MemoryRelease[] = [];
    releaser.addEventListener('released', (e) => released.push(e.detail));
    await releaser.start();
    t.teardown(() => releaser.stop());
    // The sync's buffers, live: the resident set grows by 100 MB, past any mark.
    const start = process.memoryUsage.rss();
    const live: Buffer[] = [];
    for (let i = 0; i < 6144; i++) live.push(Buffer.alloc(16 * 1024, i));
    t.true(process.memoryUsage.rss() - start > 64 * MB);
    // Time for a release to start and end (0.6 s of waits in it), were one to start.
    await sleep(2500);
    t.deepEqual(released, [], 'the main thread idle and the resident set grown, but a sync running');
    working = false;
    for (let i = 0; i < 50 && released.length === 0; i++) await sleep(100);
    t.is(released.length, 1, 'released once the sync ended');
    t.is(live.length, 6144);
  },
);
