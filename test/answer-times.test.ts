/**
 * The lookup client's pace of each provider (node/network/answer-times.ts): a smoothed answer time per
 * peer, so that a second provider is asked when the first is late for its own pace.
 */
import test from 'ava';
import { AnswerTimes } from '../node/network/answer-times.ts';

test('a peer’s first answer time is its pace; later ones move it a quarter of the way', (t) => {
  const times = new AnswerTimes();
  t.is(times.expected('a'), undefined);
  times.add('a', 200);
  t.is(times.expected('a'), 200);
  times.add('a', 600);
  t.is(times.expected('a'), 300);
  times.add('a', 300);
  t.is(times.expected('a'), 300);
});

test('the least recently timed peers are forgotten beyond the bound', (t) => {
  const times = new AnswerTimes(2);
  times.add('a', 10);
  times.add('b', 20);
  times.add('a', 10);
  times.add('c', 30);
  t.is(times.expected('b'), undefined, 'b was timed least recently');
  t.is(times.expected('a'), 10);
  t.is(times.expected('c'), 30);
});
