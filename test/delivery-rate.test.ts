// The depth of a lone source's pipeline (node/sync/delivery-rate.ts): the bandwidth-delay rule on a
// measured delivery rate, with its floor and ceiling.
import test from 'ava';
import { DeliveryRate } from '../node/sync/delivery-rate.ts';

/** `count` answers of `bytes`, one every `everyMs`, from t = 0. */
function delivered(count: number, bytes: number, everyMs: number): DeliveryRate {
  const rate = new DeliveryRate();
  for (let i = 0; i < count; i++) rate.add(bytes, i * everyMs);
  return rate;
}

test('the most depth until a first half second of answers is measured', (t) => {
  t.is(new DeliveryRate().depth(16, 48, 4000), 48);
  t.is(delivered(50, 35_000, 10).depth(16, 48, 4000), 48, '0.49 s of answers: no rate yet');
});

test('a fast source gets the most requests in flight, a slow one the least', (t) => {
  // 3.5 MB/s of 35 kB answers: 400 of them in 4 s, capped at 48.
  t.is(delivered(200, 35_000, 10).depth(16, 48, 4000), 48);
  // 117 kB/s: 13 in 4 s, so the floor of 16.
  t.is(delivered(10, 35_000, 300).depth(16, 48, 4000), 16);
});

test('between the bounds, the depth is what the source delivers in the budget', (t) => {
  // 700 kB/s of 35 kB answers: 20 in 1 s, 40 in 2 s.
  const rate = delivered(40, 35_000, 50);
  t.is(rate.depth(4, 48, 1000), 20);
  t.is(rate.depth(4, 48, 2000), 40);
});

test('a source that slows down is given fewer requests, each new half second weighing half', (t) => {
  const rate = new DeliveryRate();
  let now = 0;
  for (let i = 0; i < 41; i++, now += 25) rate.add(35_000, now); // 1.4 MB/s for a second
  t.is(rate.depth(1, 1000, 1000), 40);
  for (let i = 0; i < 11; i++, now += 100) rate.add(35_000, now); // then 350 kB/s for a second
  // Two half-second windows at ~350 kB/s after the fast ones: 1.4 MB/s / 4 + 350 kB/s * 3 / 4, about
  // 610 kB/s, over 35 kB answers: about 17.
  const depth = rate.depth(1, 1000, 1000);
  t.true(depth >= 15 && depth <= 19, `depth ${depth}`);
});
