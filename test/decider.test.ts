// The vote's pure deciders (threshold, trust), the chain and the shorthand (docs/CLI.md, the deciders).
import test from 'ava';
import {
  checkDeciderSpec,
  type Decider,
  DeciderChain,
  type DeciderSpec,
  formatDeciderSpec,
  type LogVote,
  parseDeciderSpec,
  parseFraction,
  thresholdDecider,
  trustDecider,
} from '../node/vote/decider.ts';
import { MalformedError, OutOfRangeError } from '../protocol/errors.ts';

const X = 'sha256:xxxx';
const Y = 'sha256:yyyy';

/** One log's vote: a fingerprint, several (contradicting), or none (silent). */
function vote(log: string, fps: string | readonly string[] | undefined, weight = 1, forked = false): LogVote {
  const fingerprints = fps === undefined ? [] : typeof fps === 'string' ? [fps] : fps;
  return { log, logId: `id-${log}`, weight, fingerprints, forked };
}

const decideWith = (text: string, votes: readonly LogVote[]) =>
  new DeciderChain([deciderOf(parseDeciderSpec(text))]).decide(votes);

function deciderOf(spec: DeciderSpec): Decider {
  if (spec.kind === 'threshold') return thresholdDecider(spec.count, spec.fraction);
  if (spec.kind === 'trust') return trustDecider(spec.log);
  throw new Error('no scripts here');
}

test('threshold 3/4 decides when 3 of 4 logs agree and reports agreeing, mismatches and misses', async (t) => {
  const d = await decideWith('threshold 3/4', [vote('a', X), vote('b', Y), vote('c', X), vote('d', X)]);
  t.deepEqual(d, {
    fingerprint: X,
    decider: 'threshold 3/4',
    agreeing: ['a', 'c', 'd'],
    mismatches: [{ log: 'b', fingerprint: Y }],
    misses: [],
    abstentions: [],
    tally: [
      { fingerprint: X, logs: ['a', 'c', 'd'], weight: 3 },
      { fingerprint: Y, logs: ['b'], weight: 1 },
    ],
    reasons: [],
  });
});

test('threshold 3/4 does not decide on 2 of 4 and says why; every voter is then a mismatch', async (t) => {
  const d = await decideWith('threshold 3/4', [
    vote('a', X),
    vote('b', Y),
    vote('c', X),
    vote('d', undefined),
  ]);
  t.is(d.fingerprint, undefined);
  t.is(d.decider, undefined);
  t.deepEqual(d.agreeing, []);
  t.deepEqual(d.mismatches, [
    { log: 'a', fingerprint: X },
    { log: 'b', fingerprint: Y },
    { log: 'c', fingerprint: X },
  ]);
  t.deepEqual(d.misses, ['d']);
  t.deepEqual(d.reasons, [
    'threshold 3/4: 2 of 4 logs (weight 2 of 4) agree; needs 3 logs and 3/4 of the weight',
  ]);
});

test('a heavy log outweighs two light ones, but not when the count requires two logs', async (t) => {
  const votes = [vote('heavy', X, 3), vote('l1', Y), vote('l2', Y)];
  const d = await decideWith('threshold count=1 fraction=1/2', votes);
  t.is(d.fingerprint, X);
  t.deepEqual(d.tally[0], { fingerprint: X, logs: ['heavy'], weight: 3 });
  t.deepEqual(d.tally[1], { fingerprint: Y, logs: ['l1', 'l2'], weight: 2 });
  const twoLogs = await decideWith('threshold count=2 fraction=1/2', votes);
  t.is(twoLogs.fingerprint, undefined);
  t.deepEqual(twoLogs.reasons, [
    'threshold count=2 fraction=1/2: 1 of 3 logs (weight 3 of 5) agree; needs 2 logs and 1/2 of the weight',
  ]);
});

test('fractional weights are compared exactly: 0.1 + 0.2 against 0.3 at one half is a tie', async (t) => {
  // In floating point 0.1 + 0.2 > 0.3, which would make X win.
  const d = await decideWith('threshold count=1 fraction=1/2', [
    vote('a', X, 0.1),
    vote('b', X, 0.2),
    vote('c', Y, 0.3),
  ]);
  t.is(d.fingerprint, undefined);
  t.deepEqual(d.reasons, ['threshold 1/2: tie: 2 values qualify; needs 1 log and 1/2 of the weight']);
  t.is(d.tally[0]?.weight, 0.3);
  // 0.7 + 0.1 is 0.7999999999999999 in floating point, yet exactly 4/5 of 1.
  const exact = await decideWith('threshold count=2 fraction=0.8', [
    vote('a', X, 0.7),
    vote('b', X, 0.1),
    vote('c', undefined, 0.2),
  ]);
  t.is(exact.fingerprint, X);
  t.is(exact.tally[0]?.weight, 0.8);
});

test('very large weights and fine fractions stay exact beyond 2^53', async (t) => {
  const votes = [vote('a', X, 1e6), vote('b', X, 1e6), vote('c', X, 1e6), vote('d', Y, 1e6)];
  const atThreeQuarters = { numerator: 750_000_000_000, denominator: 1_000_000_000_000 };
  t.is((await new DeciderChain([thresholdDecider(1, atThreeQuarters)]).decide(votes)).fingerprint, X);
  const justOver = { numerator: 750_000_000_001, denominator: 1_000_000_000_000 };
  t.is((await new DeciderChain([thresholdDecider(1, justOver)]).decide(votes)).fingerprint, undefined);
});

test('3 of 3 at fraction 1/1 decides (no rounding down), 2 of 3 does not', async (t) => {
  t.is((await decideWith('threshold 3/3', [vote('a', X), vote('b', X), vote('c', X)])).fingerprint, X);
  t.is(
    (
      await decideWith('threshold count=1 fraction=1', [
        vote('a', X, 0.1),
        vote('b', X, 0.2),
        vote('c', X, 0.7),
      ])
    ).fingerprint,
    X,
  );
  t.is(
    (await decideWith('threshold 3/3', [vote('a', X), vote('b', X), vote('c', undefined)])).fingerprint,
    undefined,
  );
});

test('one answering log of four is not half of the weight: threshold 1/2 does not decide', async (t) => {
  const d = await decideWith('threshold 1/2', [
    vote('a', X),
    vote('b', undefined),
    vote('c', undefined),
    vote('d', undefined),
  ]);
  t.is(d.fingerprint, undefined);
  t.deepEqual(d.misses, ['b', 'c', 'd']);
  t.deepEqual(d.reasons, [
    'threshold 1/2: 1 of 4 logs (weight 1 of 4) agree; needs 1 log and 1/2 of the weight',
  ]);
});

test('a 2 against 2 tie at one half decides nothing', async (t) => {
  const d = await decideWith('threshold count=2 fraction=1/2', [
    vote('a', X),
    vote('b', Y),
    vote('c', Y),
    vote('d', X),
  ]);
  t.is(d.fingerprint, undefined);
  t.regex(d.reasons[0] ?? '', /^threshold count=2 fraction=1\/2: tie: 2 values qualify/);
  t.is(d.mismatches.length, 4);
});

test('a forked log abstains, and its weight still counts in the total', async (t) => {
  const votes = [vote('a', X), vote('b', X), vote('forked', X, 1, true), vote('d', undefined)];
  const half = await decideWith('threshold count=2 fraction=1/2', votes);
  t.is(half.fingerprint, X);
  t.deepEqual(half.agreeing, ['a', 'b']);
  t.deepEqual(half.abstentions, [{ log: 'forked', reason: 'forked', fingerprints: [X] }]);
  t.deepEqual(half.misses, ['d']);
  // 2 of 4 is under 3/5; had the forked log's weight been dropped, 2 of 3 would pass.
  const d = await decideWith('threshold count=2 fraction=3/5', votes);
  t.is(d.fingerprint, undefined);
  t.deepEqual(d.reasons, [
    'threshold count=2 fraction=3/5: 2 of 4 logs (weight 2 of 4) agree; needs 2 logs and 3/5 of the weight',
  ]);
  t.false(d.mismatches.some((m) => m.log === 'forked'));
});

test('a log holding two fingerprints for the path abstains as contradicting; a repeated one still votes', async (t) => {
  const d = await decideWith('threshold 2/3', [vote('a', X), vote('both', [X, Y]), vote('dup', [X, X])]);
  t.is(d.fingerprint, X);
  t.deepEqual(d.agreeing, ['a', 'dup']);
  t.deepEqual(d.abstentions, [{ log: 'both', reason: 'contradicting', fingerprints: [X, Y] }]);
  t.deepEqual(d.mismatches, []);
  t.deepEqual(d.tally, [{ fingerprint: X, logs: ['a', 'dup'], weight: 2 }]);
});

test('a count larger than the number of logs never decides', async (t) => {
  const d = await decideWith('threshold count=5 fraction=0', [
    vote('a', X),
    vote('b', X),
    vote('c', X),
    vote('d', X),
  ]);
  t.is(d.fingerprint, undefined);
  t.deepEqual(d.reasons, ['threshold count=5 fraction=0/1: 4 of 4 logs (weight 4 of 4) agree; needs 5 logs']);
});

test('with zero logs configured nothing is decided', async (t) => {
  const d = await decideWith('threshold count=1 fraction=0', []);
  t.deepEqual(d, {
    fingerprint: undefined,
    decider: undefined,
    agreeing: [],
    mismatches: [],
    misses: [],
    abstentions: [],
    tally: [],
    reasons: ['threshold count=1 fraction=0/1: no logs configured'],
  });
});

test('fraction 0 leaves only the count to satisfy', async (t) => {
  const silent = Array.from({ length: 8 }, (_, i) => vote(`s${i}`, undefined));
  t.is(
    (await decideWith('threshold count=2 fraction=0', [vote('a', X), vote('b', X), ...silent])).fingerprint,
    X,
  );
  const one = await decideWith('threshold count=2 fraction=0', [vote('a', X), ...silent]);
  t.is(one.fingerprint, undefined);
  t.deepEqual(one.reasons, [
    'threshold count=2 fraction=0/1: 1 of 9 logs (weight 1 of 9) agree; needs 2 logs',
  ]);
});

test('when no log voted, threshold says how many were silent and how many abstained', async (t) => {
  const d = await decideWith('threshold 1/2', [vote('a', undefined), vote('b', X, 1, true)]);
  t.deepEqual(d.reasons, [
    'threshold 1/2: no log voted (2 configured: 1 silent, 1 abstaining); needs 1 log and 1/2 of the weight',
  ]);
});

test('trust takes what the named log says, even against the majority', async (t) => {
  const d = await decideWith('trust b', [vote('a', X), vote('b', Y), vote('c', X)]);
  t.is(d.fingerprint, Y);
  t.is(d.decider, 'trust b');
  t.deepEqual(d.agreeing, ['b']);
  t.deepEqual(d.mismatches, [
    { log: 'a', fingerprint: X },
    { log: 'c', fingerprint: X },
  ]);
});

test('trust does not decide for a log that is not followed, silent, forked or contradicting', async (t) => {
  const votes = [vote('silent', undefined), vote('forked', X, 1, true), vote('both', [X, Y]), vote('ok', X)];
  const reasons = async (name: string) => (await decideWith(`trust ${name}`, votes)).reasons;
  t.deepEqual(await reasons('nobody'), ['trust nobody: log nobody is not followed']);
  t.deepEqual(await reasons('silent'), ['trust silent: log silent has no entry for the path']);
  t.deepEqual(await reasons('forked'), ['trust forked: log forked is forked (its key signed two histories)']);
  t.deepEqual(await reasons('both'), ['trust both: log both holds 2 different fingerprints for the path']);
  t.deepEqual(trustDecider('ok').decide(votes), { fingerprint: X });
});

test('the chain tries deciders in order, the first that decides wins, and earlier ones give reasons', async (t) => {
  const chain = new DeciderChain([
    thresholdDecider(3, { numerator: 3, denominator: 4 }),
    trustDecider('nobody'),
    trustDecider('b'),
    trustDecider('a'),
  ]);
  const d = await chain.decide([vote('a', X), vote('b', Y), vote('c', undefined), vote('d', X)]);
  t.is(d.fingerprint, Y);
  t.is(d.decider, 'trust b');
  t.deepEqual(d.reasons, [
    'threshold 3/4: 2 of 4 logs (weight 2 of 4) agree; needs 3 logs and 3/4 of the weight',
    'trust nobody: log nobody is not followed',
  ]);
  await chain.close();
  await chain.stop();
});

test('an empty chain decides nothing', async (t) => {
  const d = await new DeciderChain([]).decide([vote('a', X)]);
  t.is(d.fingerprint, undefined);
  t.deepEqual(d.reasons, []);
  t.deepEqual(d.mismatches, [{ log: 'a', fingerprint: X }]);
});

test('the chain awaits asynchronous deciders and turns throws and unvoted values into reasons', async (t) => {
  const custom = (spec: DeciderSpec, decide: Decider['decide']): Decider => ({ spec, decide });
  const chain = new DeciderChain([
    custom({ kind: 'trust', log: 'thrower' }, () => {
      throw new Error('boom');
    }),
    custom({ kind: 'trust', log: 'rejecter' }, () => Promise.reject(new Error('async boom'))),
    custom({ kind: 'trust', log: 'liar' }, () => ({ fingerprint: 'sha256:nobody' })),
    custom({ kind: 'trust', log: 'slow' }, async () => ({ reason: 'thinking' })),
    custom({ kind: 'trust', log: 'mute' }, () => undefined as unknown as { reason: string }),
    custom({ kind: 'trust', log: 'late' }, async () => ({ fingerprint: Y })),
    trustDecider('a'),
  ]);
  const d = await chain.decide([vote('a', X), vote('b', Y)]);
  t.is(d.fingerprint, Y);
  t.is(d.decider, 'trust late');
  t.deepEqual(d.reasons, [
    'trust thrower: failed: boom',
    'trust rejecter: failed: async boom',
    'trust liar: returned a value no log voted for',
    'trust slow: thinking',
    'trust mute: no decision',
  ]);
});

test('a weight outside the contract is refused with OutOfRangeError', async (t) => {
  const chain = new DeciderChain([trustDecider('a')]);
  for (const weight of [0, -1, Number.NaN, 1_000_001, 1e-7])
    await t.throwsAsync(chain.decide([vote('a', X, weight)]), { instanceOf: OutOfRangeError });
  t.throws(() => thresholdDecider(1, { numerator: 1, denominator: 2 }).decide([vote('a', X, 0)]), {
    instanceOf: OutOfRangeError,
  });
});

test('the shorthand round-trips through parse and format', (t) => {
  const cases: [string, DeciderSpec, string?][] = [
    ['threshold 3/4', { kind: 'threshold', count: 3, fraction: { numerator: 3, denominator: 4 } }],
    ['threshold 1/1', { kind: 'threshold', count: 1, fraction: { numerator: 1, denominator: 1 } }],
    ['threshold 2/4', { kind: 'threshold', count: 2, fraction: { numerator: 2, denominator: 4 } }],
    [
      'threshold count=2 fraction=0.6',
      { kind: 'threshold', count: 2, fraction: { numerator: 3, denominator: 5 } },
      'threshold count=2 fraction=3/5',
    ],
    [
      '  threshold   count=3\tfraction=3/4 ',
      { kind: 'threshold', count: 3, fraction: { numerator: 3, denominator: 4 } },
      'threshold 3/4',
    ],
    [
      'threshold count=1 fraction=0/1',
      { kind: 'threshold', count: 1, fraction: { numerator: 0, denominator: 1 } },
    ],
    ['trust cache.nixos.org-1', { kind: 'trust', log: 'cache.nixos.org-1' }],
    ['script ./deciders/majority.mjs', { kind: 'script', module: './deciders/majority.mjs' }],
    ['script /etc/d.js timeout=250', { kind: 'script', module: '/etc/d.js', timeoutMs: 250 }],
    ['script "my deciders/d.mjs"', { kind: 'script', module: 'my deciders/d.mjs' }],
    ['script "\\"odd\\".mjs" timeout=1', { kind: 'script', module: '"odd".mjs', timeoutMs: 1 }],
    ['script C:\\deciders\\d.mjs', { kind: 'script', module: 'C:\\deciders\\d.mjs' }],
  ];
  for (const [text, spec, canonical] of cases) {
    t.deepEqual(parseDeciderSpec(text), spec, text);
    t.is(formatDeciderSpec(spec), canonical ?? text, text);
    t.deepEqual(parseDeciderSpec(formatDeciderSpec(spec)), spec, text);
  }
});

test('malformed shorthands are refused with MalformedError naming the problem', (t) => {
  const cases: [string, RegExp][] = [
    ['', /empty decider/],
    ['   ', /empty decider/],
    ['majority 3/4', /expected "majority" or "majority count=C"/],
    ['Threshold 3/4', /unknown decider/],
    ['threshold', /expected "threshold M\/N"/],
    ['threshold 5/4', /more than 1/],
    ['threshold 3/0', /denominator must be at least 1/],
    ['threshold 0/4', /M must be at least 1/],
    ['threshold 1.5/4', /expected "threshold M\/N"/],
    ['threshold 03/4', /canonical integers/],
    ['threshold 0.75', /expected "threshold M\/N"/],
    ['threshold 3/4 extra', /expected "threshold M\/N"/],
    ['threshold 3 / 4', /expected "threshold M\/N"/],
    ['threshold count=2', /expected "threshold M\/N"/],
    ['threshold fraction=1/2 count=2', /expected "threshold M\/N"/],
    ['threshold count=0 fraction=1/2', /count must be an integer of at least 1/],
    ['threshold count=1.5 fraction=1/2', /count must be an integer of at least 1/],
    ['threshold count=99999999999999999 fraction=1/2', /count must be an integer/],
    ['threshold count=2 fraction=1.5', /more than 1/],
    ['threshold count=2 fraction=3/2', /more than 1/],
    ['threshold count=2 fraction=0.1234567', /not a fraction/],
    ['threshold count=2 fraction=half', /not a fraction/],
    ['trust', /expected "trust NAME"/],
    ['trust a b', /expected "trust NAME"/],
    ['trust a+b', /trust needs a log name/],
    ['script', /expected "script PATH/],
    ['script d.mjs extra', /expected "script PATH/],
    ['script d.mjs timeout=0', /timeoutMs must be an integer from 1 to 60000/],
    ['script d.mjs timeout=60001', /timeoutMs must be/],
    ['script d.mjs timeout=1s', /expected "script PATH/],
    ['script "unterminated.mjs', /badly quoted path/],
    ['script "a.mjs"x', /text after the quoted path/],
    ['script ""', /expected "script PATH/],
  ];
  for (const [text, message] of cases) {
    const error = t.throws(() => parseDeciderSpec(text), { instanceOf: MalformedError }, text);
    t.is(error?.what, 'decider', text);
    t.regex(error?.message ?? '', message, text);
  }
});

test('checkDeciderSpec refuses bad config objects and returns good ones', (t) => {
  const good: DeciderSpec = { kind: 'script', module: 'd.mjs', timeoutMs: 60_000 };
  t.is(checkDeciderSpec(good), good);
  const bad: unknown[] = [
    null,
    'threshold 1/2',
    { kind: 'vote' },
    { kind: 'threshold', count: 0, fraction: { numerator: 1, denominator: 2 } },
    { kind: 'threshold', count: 1.5, fraction: { numerator: 1, denominator: 2 } },
    { kind: 'threshold', count: 1 },
    { kind: 'threshold', count: 1, fraction: { numerator: 3, denominator: 2 } },
    { kind: 'threshold', count: 1, fraction: { numerator: 0, denominator: 0 } },
    { kind: 'threshold', count: 1, fraction: { numerator: -1, denominator: 2 } },
    { kind: 'threshold', count: 1, fraction: { numerator: 0.5, denominator: 1 } },
    { kind: 'trust', log: '' },
    { kind: 'trust', log: 'a b' },
    { kind: 'script', module: '' },
    { kind: 'script', module: 'd.mjs', timeoutMs: 0 },
    { kind: 'script', module: 'd.mjs', timeoutMs: 1.5 },
  ];
  for (const spec of bad)
    t.throws(
      () => checkDeciderSpec(spec as DeciderSpec),
      { instanceOf: MalformedError },
      JSON.stringify(spec),
    );
  t.throws(() => thresholdDecider(0, { numerator: 1, denominator: 2 }), { instanceOf: MalformedError });
  t.throws(() => trustDecider(''), { instanceOf: MalformedError });
});

test('parseFraction reads N/D exactly and decimals into reduced fractions', (t) => {
  t.deepEqual(parseFraction('3/4'), { numerator: 3, denominator: 4 });
  t.deepEqual(parseFraction('6/8'), { numerator: 6, denominator: 8 });
  t.deepEqual(parseFraction('0/5'), { numerator: 0, denominator: 5 });
  t.deepEqual(parseFraction('0.75'), { numerator: 3, denominator: 4 });
  t.deepEqual(parseFraction('0.333333'), { numerator: 333_333, denominator: 1_000_000 });
  t.deepEqual(parseFraction('1'), { numerator: 1, denominator: 1 });
  t.deepEqual(parseFraction('1.000000'), { numerator: 1, denominator: 1 });
  t.deepEqual(parseFraction('0'), { numerator: 0, denominator: 1 });
  for (const text of [
    '',
    '1.5',
    '2',
    '-0.5',
    '.5',
    '0.',
    '0.1234567',
    '4/3',
    '1/0',
    '01/2',
    'a/b',
    ' 1/2',
    '1e-1',
  ])
    t.throws(
      () => parseFraction(text),
      { instanceOf: MalformedError, message: /^malformed fraction: / },
      text,
    );
});
