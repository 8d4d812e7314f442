import test from 'ava';
import type { Rejection, ResolveOutcome } from '../node/sequencer.ts';
import type { Submission } from '../node/submission-queue.ts';
import { openLogFixture } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

const [e1, e2, e3] = [...syntheticEntries(3, 21)] as [string, string, string];
const pathOf = (e: string) => e.split(';')[1]!;

test('a refused submission is dropped and reported; the rest of its batch is appended', async (t) => {
  const log = await openLogFixture({
    resolve: async (subs: readonly Submission[]) =>
      subs.map((s): ResolveOutcome => {
        if (s.kind === 'path' && s.path === pathOf(e1)) return { ok: true, entries: [e1] };
        return { ok: false, error: new Error('not a valid path'), retry: false };
      }),
  });
  t.teardown(() => log.destroy());
  const rejected: Rejection[] = [];
  log.sequencer.addEventListener('rejected', (e) => rejected.push((e as CustomEvent<Rejection>).detail));
  await log.queue.enqueue([
    { kind: 'path', path: pathOf(e1) },
    { kind: 'path', path: pathOf(e2) },
    { kind: 'entry', entry: e3 },
  ]);
  await log.sequencer.flushed();
  t.is(log.store.size, 2);
  t.is(rejected.length, 1);
  t.deepEqual(rejected[0]!.submission, { kind: 'path', path: pathOf(e2) });
  t.deepEqual(await log.queue.pending(0, 10), []);
});

test('a submission failing for a passing reason stays queued and is appended once it resolves', async (t) => {
  let calls = 0;
  const log = await openLogFixture({
    init: { maxRetryDelayMs: 50 },
    resolve: async (subs: readonly Submission[]) => {
      calls++;
      return subs.map(
        (): ResolveOutcome =>
          calls < 3
            ? { ok: false, error: new Error('nix-store timed out'), retry: true }
            : { ok: true, entries: [e1] },
      );
    },
  });
  t.teardown(() => log.destroy());
  await log.queue.enqueue([
    { kind: 'path', path: pathOf(e1) },
    { kind: 'entry', entry: e2 },
  ]);
  await log.sequencer.flushed();
  t.true(calls >= 3);
  t.is(log.store.size, 2);
  // The ready entry was not held back by the retried one.
  t.is(new TextDecoder().decode((await log.store.entry(0))!), e2);
  t.is(new TextDecoder().decode((await log.store.entry(1))!), e1);
  t.deepEqual(await log.queue.pending(0, 10), []);
});
