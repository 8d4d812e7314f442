/**
 * `trustix decide`'s text: votes grouped by value, the decided value marked, each value's logs and weight
 * against the total, and no fingerprints 200 characters long.
 */
import test from 'ava';
import { type DecisionJson, decisionText } from '../cli/decision-text.ts';

const PATH = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12';
const GLIBC = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-glibc-2.37-8';
const LIB = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello-lib';
const HONEST = `1;${PATH};sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s;226560;${GLIBC},${LIB}`;
const LIE = `1;${PATH};sha256:0zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz;226560;${GLIBC},${LIB}`;

const base: DecisionJson = {
  path: PATH,
  decided: false,
  storePath: null,
  fingerprint: null,
  decider: null,
  agreeing: [],
  mismatches: [],
  misses: [],
  abstentions: [],
  tally: [],
  totalWeight: 5,
  reasons: [],
};

test('a decided path: its value marked, the liar in its own group, weights against the total', (t) => {
  const text = decisionText({
    ...base,
    decided: true,
    storePath: PATH,
    fingerprint: HONEST,
    decider: 'threshold 1/2',
    agreeing: ['mercury', 'venus', 'earth'],
    mismatches: [{ log: 'liar', fingerprint: LIE }],
    misses: ['saturn'],
    tally: [
      { fingerprint: HONEST, logs: ['mercury', 'venus', 'earth'], weight: 3 },
      { fingerprint: LIE, logs: ['liar'], weight: 1 },
    ],
  });
  t.is(
    text,
    [
      `${PATH}: decided by threshold 1/2`,
      '  * value A  sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s  (NAR 226,560 bytes; refs glibc-2.37-8, hello-lib)  <- decided',
      '             3 logs, weight 3 of 5: mercury, venus, earth',
      '    value B  sha256:0zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz  (NAR 226,560 bytes; refs glibc-2.37-8, hello-lib)',
      '             1 log, weight 1 of 5: liar',
      '  misses     saturn',
    ].join('\n'),
  );
  t.false(text.includes(GLIBC), 'references by name, not by full path');
});

test('a tie: both values grouped, none marked, a forked log abstains, and the reason with the threshold', (t) => {
  const text = decisionText({
    ...base,
    mismatches: [
      { log: 'mercury', fingerprint: HONEST },
      { log: 'venus', fingerprint: HONEST },
      { log: 'liar', fingerprint: LIE },
      { log: 'clone', fingerprint: LIE },
    ],
    abstentions: [{ log: 'jupiter', reason: 'forked', fingerprints: [HONEST] }],
    tally: [
      { fingerprint: HONEST, logs: ['mercury', 'venus'], weight: 2 },
      { fingerprint: LIE, logs: ['liar', 'clone'], weight: 2 },
    ],
    reasons: ['threshold 1/3: tie: 2 values qualify; needs 1 log and 1/3 of the weight'],
  });
  const lines = text.split('\n');
  t.is(lines[0], `${PATH}: NOT decided`);
  t.false(text.includes('*'));
  t.false(text.includes('mismatch'), 'honest builders are not called mismatches');
  t.regex(lines[2]!, /2 logs, weight 2 of 5: mercury, venus$/);
  t.regex(lines[4]!, /2 logs, weight 2 of 5: liar, clone$/);
  t.is(lines[6], '  abstains   jupiter (forked: its key signed two histories)');
  t.is(lines[7], '  not by     threshold 1/3: tie: 2 values qualify; needs 1 log and 1/3 of the weight');
  t.true(
    lines.every((l) => l.length <= 160),
    'no line carries a whole fingerprint',
  );
});
