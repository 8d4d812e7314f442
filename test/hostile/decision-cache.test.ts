// Hostile builders, issue item 6: fingerprints of up to 64 KiB (an entry with a thousand references).
// The decision cache was bounded by count only (100,000 decisions of up to several 64 KiB strings each:
// gigabytes); it is now bounded by estimated bytes too, and answers stay right when entries fall out.
import test from 'ava';
import { parseDeciderSpec } from '../../node/vote/decider.ts';
import { decisionBytes } from '../../node/vote/decisions.ts';
import { parseStorePath } from '../../protocol/store-path.ts';
import { fingerprint, prng, randomNarHash, randomStorePath } from '../helpers/synthetic-entries.ts';
import { openVoteFixture } from '../helpers/vote-fixture.ts';

const rand = prng(6);
const REFS = Array.from({ length: 1000 }, () => randomStorePath(rand));
const BIG = Array.from({ length: 60 }, (_, i) =>
  fingerprint(randomStorePath(rand, `big-${i}`), randomNarHash(rand), 1000 + i, REFS),
);
const BUDGET = 2 * 1024 * 1024;

test('decisions with 60 KiB fingerprints stay within the cache byte budget, and stay right', async (t) => {
  t.true(BIG[0]!.length > 55_000);
  const f = await openVoteFixture({
    logs: [
      { name: 'mercury', entries: BIG },
      { name: 'venus', entries: BIG },
    ],
    vote: [parseDeciderSpec('majority')],
    decisions: { maxCachedBytes: BUDGET },
  });
  t.teardown(() => f.close());
  const hashParts = BIG.map((fp) => parseStorePath(fp.split(';')[1]!).hashPart);
  let sum = 0;
  for (const [i, h] of hashParts.entries()) {
    const d = await f.decisions.decide(h);
    t.is(d.fingerprint, BIG[i]);
    sum += decisionBytes(d);
  }
  t.true(sum > 4 * BUDGET, `the decisions together (${sum} bytes) are well over the budget`);
  const held = f.decisions.cacheSize();
  t.true(held.bytes <= BUDGET, `${held.bytes} bytes cached`);
  t.true(held.entries > 0 && held.entries < BIG.length);
  // Evicted or not, every answer is still the decided value.
  for (const [i, h] of hashParts.entries()) t.is((await f.decisions.decide(h)).fingerprint, BIG[i]);
});
