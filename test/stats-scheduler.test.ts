import test from 'ava';
import { StatsScheduler } from '../node/stats/stats-scheduler.ts';
import type { Follower } from '../node/sync/follower.ts';

/** The follower as the scheduler sees it: statuses and the events that end a sync. */
class Syncing extends EventTarget {
  readonly states = new Map<string, string>();
  statuses() {
    return [...this.states].map(([logId, state]) => ({ logId, state }));
  }
  end(logId: string, type = 'synced') {
    this.states.set(logId, type === 'synced' ? 'ok' : 'failed');
    this.dispatchEvent(new CustomEvent(type, { detail: { logId } }));
  }
}

function setup(maxDelayMs = 60_000) {
  const follower = new Syncing();
  const updated: string[] = [];
  const scheduler = new StatsScheduler(
    { update: (id) => updated.push(id), follower: follower as unknown as Follower },
    { maxDelayMs },
  );
  scheduler.start();
  return { follower, updated, scheduler };
}

test('logs that synced are indexed once no log is syncing, each once', (t) => {
  const { follower, updated, scheduler } = setup();
  t.teardown(() => scheduler.stop());
  follower.states.set('a', 'syncing');
  follower.states.set('b', 'syncing');
  follower.states.set('c', 'syncing');
  follower.end('a');
  scheduler.update('a');
  t.deepEqual(updated, [], 'b and c still sync');
  follower.end('b');
  t.deepEqual(updated, []);
  follower.end('c', 'sync-failed');
  t.deepEqual(updated.sort(), ['a', 'b']);
});

test('with nothing syncing (or no network) an update runs at once', (t) => {
  const { updated, scheduler } = setup();
  t.teardown(() => scheduler.stop());
  scheduler.update('x');
  t.deepEqual(updated, ['x']);
  const offline: string[] = [];
  new StatsScheduler({ update: (id) => offline.push(id), follower: undefined }).update('y');
  t.deepEqual(offline, ['y']);
});

test('a log that keeps syncing does not starve the statistics', async (t) => {
  const { follower, updated, scheduler } = setup(50);
  t.teardown(() => scheduler.stop());
  follower.states.set('busy', 'syncing');
  follower.states.set('a', 'syncing');
  follower.end('a');
  t.deepEqual(updated, []);
  await new Promise((r) => setTimeout(r, 120));
  t.deepEqual(updated, ['a']);
});

test('stopped, it forgets what waited', async (t) => {
  const { follower, updated, scheduler } = setup(30);
  follower.states.set('busy', 'syncing');
  follower.states.set('a', 'syncing');
  follower.end('a');
  scheduler.stop();
  await new Promise((r) => setTimeout(r, 60));
  follower.end('busy');
  t.deepEqual(updated, []);
});
