// The `script` decider: a user module's decide(votes) in its sandbox (QuickJS in a worker thread), with
// time and memory limits. What a hostile script cannot do: test/hostile/scripts.test.ts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { createDeciderChain, type LogVote, parseDeciderSpec } from '../node/vote/decider.ts';
import { ScriptDecider } from '../node/vote/script-decider.ts';
import { DeciderScriptError } from '../node/vote/script-module.ts';

const X = 'sha256:xxxx';
const Y = 'sha256:yyyy';

const FIXTURES: Record<string, string> = {
  'majority.mjs': `
export function decide(votes) {
  const counts = new Map();
  for (const v of votes)
    if (!v.forked && v.fingerprints.length === 1) counts.set(v.fingerprints[0], (counts.get(v.fingerprints[0]) ?? 0) + 1);
  let best = null, bestCount = 0;
  for (const [fp, n] of counts) if (n > bestCount) [best, bestCount] = [fp, n];
  return best;
}`,
  'promise.mjs': `
export async function decide(votes) {
  await new Promise((resolve) => resolve());
  await null;
  return votes.at(-1).fingerprints[0];
}`,
  'never-settles.mjs': `export function decide() { return new Promise(() => {}); }`,
  'throws.mjs': `export function decide() { throw new Error('no opinion today'); }`,
  'rejects.mjs': `export async function decide() { throw new TypeError('async trouble'); }`,
  // Loops forever on a vote from a log named "loop", answers otherwise: the next call shows recovery.
  'loop.mjs': `
export function decide(votes) {
  if (votes.some((v) => v.log === 'loop')) for (;;) {}
  return votes[0].fingerprints[0];
}`,
  'unvoted.mjs': `export function decide(votes) { return votes[0].log === 'number' ? 42 : 'sha256:nobody'; }`,
  'abstainer.mjs': `export function decide(votes) { return votes.find((v) => v.forked).fingerprints[0]; }`,
  'null.mjs': `export function decide(votes) { return votes[0].log === 'null' ? null : undefined; }`,
  'no-decide.mjs': `export function choose() { return null; }`,
  'syntax-error.mjs': `export function decide( {`,
  'exit.mjs': `
export function decide(votes) {
  if (votes[0].log === 'exit') process.exit(3);
  return votes[0].fingerprints[0];
}`,
  // Answers only when it receives exactly the documented fields, as plain objects; mutations stay local.
  'shape.mjs': `
export function decide(votes) {
  const ok = votes.every((v) => Object.getPrototypeOf(v) === Object.prototype &&
    Object.keys(v).join() === 'log,logId,weight,fingerprints,forked');
  const answer = ok ? votes[0].fingerprints[0] : null;
  votes[0].fingerprints[0] = 'sha256:mutated';
  return answer;
}`,
  // Asks for more than its limit at once (growing to the limit in small steps also ends in "out of
  // memory", but only after seconds of WebAssembly memory growth on a loaded machine).
  'oom.mjs': `
export function decide() {
  const hoard = [];
  for (;;) hoard.push(new ArrayBuffer(64 << 20));
}`,
};

let dir = '';
const fixture = (name: string): string => join(dir, name);

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trustix-decider-'));
  await Promise.all(Object.entries(FIXTURES).map(([name, text]) => writeFile(join(dir, name), text)));
});

test.after.always(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

function vote(log: string, fingerprint: string | undefined, forked = false): LogVote {
  return {
    log,
    logId: `id-${log}`,
    weight: 1,
    fingerprints: fingerprint === undefined ? [] : [fingerprint],
    forked,
  };
}

/** A started script decider, closed when the test ends. */
async function started(
  t: { teardown(fn: () => Promise<void>): void },
  name: string,
  timeoutMs = 1000, // generous: a worker thread on a loaded machine may wait for a core
): Promise<ScriptDecider> {
  const decider = new ScriptDecider(fixture(name), { timeoutMs });
  t.teardown(() => decider.close());
  await decider.start();
  return decider;
}

test('a script returning the majority value decides it', async (t) => {
  const d = await started(t, 'majority.mjs');
  t.deepEqual(await d.decide([vote('a', X), vote('b', Y), vote('c', Y)]), { fingerprint: Y });
  t.deepEqual(d.spec, { kind: 'script', module: fixture('majority.mjs'), timeoutMs: 1000 });
});

test('a script returning a promise decides the resolved value', async (t) => {
  const d = await started(t, 'promise.mjs');
  t.deepEqual(await d.decide([vote('a', X), vote('b', Y)]), { fingerprint: Y });
});

test('a script that throws or rejects does not decide and says why', async (t) => {
  const throws = await started(t, 'throws.mjs');
  t.deepEqual(await throws.decide([vote('a', X)]), { reason: 'script failed: no opinion today' });
  const rejects = await started(t, 'rejects.mjs');
  t.deepEqual(await rejects.decide([vote('a', X)]), { reason: 'script failed: async trouble' });
  // The worker survives a throw: the next call is answered too.
  t.deepEqual(await throws.decide([vote('a', X)]), { reason: 'script failed: no opinion today' });
});

test('a script looping forever times out without blocking the node, then a fresh worker answers', async (t) => {
  const d = await started(t, 'loop.mjs', 150);
  const begun = Date.now();
  const call = d.decide([vote('loop', X)]);
  // The node's own timers keep running while the script loops: this one fires long before the time limit.
  const tick = new Promise<string>((resolve) => setTimeout(() => resolve('tick'), 10));
  t.is(await Promise.race([tick, call.then(() => 'answer')]), 'tick');
  t.deepEqual(await call, { reason: 'script timed out after 150 ms' });
  t.true(Date.now() - begun < 5000);
  t.deepEqual(await d.decide([vote('a', X)]), { fingerprint: X });
});

test('calls queued behind a looping call continue on the new worker, each with its own time limit', async (t) => {
  const d = await started(t, 'loop.mjs', 150);
  const outcomes = await Promise.all([
    d.decide([vote('a', X)]),
    d.decide([vote('loop', X)]),
    d.decide([vote('b', Y)]),
    d.decide([vote('loop', Y)]),
    d.decide([vote('c', X)]),
  ]);
  t.deepEqual(outcomes, [
    { fingerprint: X },
    { reason: 'script timed out after 150 ms' },
    { fingerprint: Y },
    { reason: 'script timed out after 150 ms' },
    { fingerprint: X },
  ]);
});

test('a value no non-abstaining log voted for, or a non-string, decides nothing', async (t) => {
  const unvoted = await started(t, 'unvoted.mjs');
  const reason = { reason: 'script returned a value no log voted for' };
  t.deepEqual(await unvoted.decide([vote('a', X)]), reason);
  t.deepEqual(await unvoted.decide([vote('number', X)]), reason);
  const abstainer = await started(t, 'abstainer.mjs');
  t.deepEqual(await abstainer.decide([vote('a', X), vote('forked', Y, true)]), reason);
});

test('null or undefined from the script is no decision', async (t) => {
  const d = await started(t, 'null.mjs');
  t.deepEqual(await d.decide([vote('null', X)]), { reason: 'script made no decision' });
  t.deepEqual(await d.decide([vote('a', X)]), { reason: 'script made no decision' });
});

test('the script gets plain copies of exactly the documented vote fields', async (t) => {
  const d = await started(t, 'shape.mjs');
  const votes = [{ ...vote('a', X), extra: 'not for scripts' }, vote('b', X)];
  t.deepEqual(await d.decide(votes), { fingerprint: X });
  t.deepEqual(votes[0]?.fingerprints, [X]);
});

test('start() throws DeciderScriptError for a module without decide, a syntax error or a missing file', async (t) => {
  for (const [name, message] of [
    ['no-decide.mjs', /exports no function `decide`/],
    ['syntax-error.mjs', /cannot load decider script .*syntax-error\.mjs: /],
    ['missing.mjs', /cannot load decider script .*missing\.mjs: .*Cannot find module/],
  ] as const) {
    const d = new ScriptDecider(fixture(name));
    const error = await t.throwsAsync(d.start(), { instanceOf: DeciderScriptError, message }, name);
    t.is(error?.code, 'ERR_DECIDER_SCRIPT');
    await d.close();
  }
});

test('a script calling process.exit fails that call only (there is no `process`); the next call answers', async (t) => {
  const d = await started(t, 'exit.mjs');
  t.deepEqual(await d.decide([vote('exit', X)]), { reason: "script failed: 'process' is not defined" });
  t.deepEqual(await d.decide([vote('a', X)]), { fingerprint: X });
});

test('a script running out of its memory fails that call only', async (t) => {
  const d = new ScriptDecider(fixture('oom.mjs'), { timeoutMs: 20_000, maxHeapMb: 32 });
  // 64 MiB at once: over the 32 MiB limit
  t.teardown(() => d.close());
  await d.start();
  t.deepEqual(await d.decide([vote('a', X)]), { reason: 'script failed: out of memory' });
});

test('a promise that never settles is no decision, at once (a script has no timers or I/O to wait for)', async (t) => {
  const d = await started(t, 'never-settles.mjs', 5000);
  const outcome = await d.decide([vote('a', X)]);
  t.regex('reason' in outcome ? outcome.reason : '', /^script failed: its promise never settles/);
});

test('close() answers pending calls with "decider closed" and later calls the same', async (t) => {
  const d = await started(t, 'loop.mjs', 5000);
  const pending = [d.decide([vote('loop', X)]), d.decide([vote('a', X)])];
  await new Promise((resolve) => setTimeout(resolve, 20));
  await d.close();
  t.deepEqual(await Promise.all(pending), [{ reason: 'decider closed' }, { reason: 'decider closed' }]);
  t.deepEqual(await d.decide([vote('a', X)]), { reason: 'decider closed' });
  await t.throwsAsync(d.start(), { instanceOf: DeciderScriptError });
});

test('decide() without start() loads the module on first use', async (t) => {
  const d = new ScriptDecider(fixture('majority.mjs'));
  t.teardown(() => d.close());
  t.deepEqual(await d.decide([vote('a', X)]), { fingerprint: X });
});

test('a chain resolves script paths against baseDir and falls back to the script after threshold', async (t) => {
  const chain = await createDeciderChain(
    [parseDeciderSpec('threshold 3/4'), parseDeciderSpec('script majority.mjs')],
    {
      baseDir: dir,
    },
  );
  t.teardown(() => chain.close());
  const d = await chain.decide([vote('a', X), vote('b', Y), vote('c', Y), vote('d', undefined)]);
  t.is(d.fingerprint, Y);
  t.is(d.decider, 'script majority.mjs');
  t.deepEqual(d.agreeing, ['b', 'c']);
  t.deepEqual(d.mismatches, [{ log: 'a', fingerprint: X }]);
  t.deepEqual(d.misses, ['d']);
  t.is(d.reasons.length, 1);
});

test('a failing script in the chain becomes a reason and the next decider is tried', async (t) => {
  const chain = await createDeciderChain(
    [parseDeciderSpec('script throws.mjs timeout=200'), parseDeciderSpec('trust a')],
    { baseDir: dir },
  );
  t.teardown(() => chain.close());
  const d = await chain.decide([vote('a', X), vote('b', Y)]);
  t.is(d.fingerprint, X);
  t.deepEqual(d.reasons, ['script throws.mjs timeout=200: script failed: no opinion today']);
});

test('createDeciderChain refuses a script it cannot load', async (t) => {
  await t.throwsAsync(
    createDeciderChain([parseDeciderSpec('script majority.mjs'), parseDeciderSpec('script no-decide.mjs')], {
      baseDir: dir,
    }),
    { instanceOf: DeciderScriptError, message: /exports no function `decide`/ },
  );
});
