/**
 * One reproducibility rate everywhere: identical / (identical + differing), paths built by one log left
 * out, printed like the dashboard prints it.
 */
import test from 'ava';
import { formatRate, reproducibilityLine, reproducibilityRate } from '../node/stats/repro-rate.ts';

test('297 identical, 1 differing, 2 inconclusive: 99.7%, not 99.0% (inconclusive paths are not judged)', (t) => {
  t.is(reproducibilityRate(297, 1), 297 / 298);
  t.is(formatRate(reproducibilityRate(297, 1)), '99.7%');
  t.is(
    reproducibilityLine({ reproducible: 297, mismatch: 1 }),
    'reproducibility 99.7% (297 of the 298 paths built by two or more logs are identical)',
  );
});

test('never rounded to 100% or 0%; no judged path is no rate', (t) => {
  t.is(formatRate(reproducibilityRate(9999, 1)), '>99.9%');
  t.is(formatRate(reproducibilityRate(1, 9999)), '<0.1%');
  t.is(formatRate(reproducibilityRate(5, 0)), '100.0%');
  t.is(reproducibilityRate(0, 0), null);
  t.is(
    reproducibilityLine({ reproducible: 0, mismatch: 0 }),
    'reproducibility — (no path was built by two or more logs)',
  );
});
