/**
 * The node's vote over its followed logs (node/vote/decisions.ts), on real logs: which votes it gathers,
 * and when a cached decision is reused or taken again.
 */
import test from 'ava';
import { parseDeciderSpec } from '../node/vote/decider.ts';
import { formatEntry, parseEntry } from '../protocol/entry.ts';
import { VECTORS } from './helpers/nix-fixtures.ts';
import { openVoteFixture } from './helpers/vote-fixture.ts';

const FILE = VECTORS.vectors.find((v) => v.name === 'tv-file')!;
const other = (() => {
  const e = parseEntry(FILE.fingerprint);
  return formatEntry({ ...e, narSize: e.narSize + 1 });
})();
/** Same hash part, another name: not a vote on FILE's path when the full path is asked. */
const renamed = FILE.fingerprint.replace('-tv-file;', '-tv-evil;');

test('a log with two fingerprints for one path abstains; the others decide', async (t) => {
  const f = await openVoteFixture({
    logs: [
      { name: 'mercury', entries: [FILE.fingerprint] },
      { name: 'venus', entries: [FILE.fingerprint] },
      { name: 'saturn', entries: [FILE.fingerprint, other] },
    ],
    vote: [parseDeciderSpec('threshold 2/3')],
  });
  t.teardown(() => f.close());
  const d = await f.decisions.decide(FILE.hashPart);
  t.is(d.fingerprint, FILE.fingerprint);
  t.is(d.storePath, FILE.storePath);
  t.deepEqual(d.agreeing, ['mercury', 'venus']);
  t.like(d.abstentions, [{ log: 'saturn', reason: 'contradicting' }]);
  t.deepEqual(
    d.votes.map((v) => [v.log, v.fingerprints.length]),
    [
      ['mercury', 1],
      ['saturn', 2],
      ['venus', 1],
    ],
  );
});

test('asked for a full store path, entries naming another path with the same hash part are no votes', async (t) => {
  const f = await openVoteFixture({
    logs: [
      { name: 'mercury', entries: [FILE.fingerprint] },
      { name: 'venus', entries: [renamed] },
    ],
    vote: [parseDeciderSpec('threshold 1/2')],
  });
  t.teardown(() => f.close());
  const byHash = await f.decisions.decide(FILE.hashPart);
  t.is(byHash.fingerprint, undefined, 'one each: a tie');
  const byPath = await f.decisions.decide(FILE.hashPart, FILE.storePath);
  t.is(byPath.fingerprint, FILE.fingerprint);
  t.deepEqual(byPath.misses, ['venus']);
});

test('a decision is reused while nothing changed, shared by concurrent callers, and retaken after a change', async (t) => {
  const f = await openVoteFixture({
    logs: [
      { name: 'mercury', entries: [FILE.fingerprint] },
      { name: 'venus', entries: [] },
    ],
    vote: [parseDeciderSpec('threshold 2/2')],
  });
  t.teardown(() => f.close());
  const [a, b] = await Promise.all([f.decisions.decide(FILE.hashPart), f.decisions.decide(FILE.hashPart)]);
  t.is(a, b, 'one computation for concurrent requests');
  t.is(await f.decisions.decide(FILE.hashPart), a, 'cached');
  t.is(a.fingerprint, undefined);

  await f.logs.get('venus')!.append([FILE.fingerprint]);
  const grown = await f.decisions.decide(FILE.hashPart);
  t.is(grown.fingerprint, FILE.fingerprint, 'venus grew');

  await f.followed.follow(f.logs.get('venus')!.key, { weight: 3 });
  const reweighed = await f.decisions.decide(FILE.hashPart);
  t.not(reweighed, grown, 'a weight change drops cached decisions');
  t.deepEqual(reweighed.votes.find((v) => v.log === 'venus')?.weight, 3);

  await f.followed.unfollow('venus');
  const after = await f.decisions.decide(FILE.hashPart);
  t.deepEqual(
    after.votes.map((v) => v.log),
    ['mercury'],
    'unfollowed logs no longer vote',
  );
});

test('bad hash parts are refused', async (t) => {
  const f = await openVoteFixture({ logs: [], vote: [parseDeciderSpec('threshold 1/2')] });
  t.teardown(() => f.close());
  t.throws(() => f.decisions.decide('not-a-hash'), { message: /hash/ });
});
