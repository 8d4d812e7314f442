/**
 * The builders of the hostile benchmark (bench/hostile.ts): real logs (LogFixture) of synthetic entries,
 * the honest builder's entries and the store path the flooder floods. Seeded, so that every run and every
 * case follows the same logs; apart from the cases because both the attack (the paths asked) and the
 * series of cases (the logs built) use them.
 */
import { generateNixSecretKey } from '../protocol/index.ts';
import { type LogFixture, openLogFixture } from '../test/helpers/log-fixture.ts';
import { prng, randomStorePath, syntheticEntries } from '../test/helpers/synthetic-entries.ts';

export const HONEST = [...syntheticEntries(2_000, 3)];
/** The benchmark's random numbers: the flooded path here, then the flood's NAR hashes (bench/hostile.ts). */
export const rand = prng(40);
export const FLOODED_PATH = randomStorePath(rand, 'flooded-1.0');

export async function builder(name: string, entries: readonly string[]): Promise<LogFixture> {
  // A hostile builder's log is not bound by the per-path cap an honest node's own log keeps.
  const log = await openLogFixture({
    secret: generateNixSecretKey(`${name}-1`),
    init: { maxPathEntries: Number.POSITIVE_INFINITY },
  });
  for (let i = 0; i < entries.length; i += 10_000) await log.append(entries.slice(i, i + 10_000));
  return log;
}
