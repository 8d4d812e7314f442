// Hostile builder, issue item 12: under the default vote one builder never decides alone. With
// `threshold 1/2` (the old default) one of two followed logs decided whenever the other was silent
// (an eclipse can silence it). The default is now `majority`: at least 2 agreeing logs and strictly
// more than half of the weight; `start` says when fewer logs are followed than the vote can use.
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { DEFAULT_VOTE } from '../../node/assembly/user-side.ts';
import {
  createDeciderChain,
  type LogVote,
  parseDeciderSpec,
  unsatisfiableVote,
} from '../../node/vote/decider.ts';
import { formatNixPublicKey, generateNixSecretKey } from '../../protocol/keys.ts';
import { tempDir } from '../helpers/log-fixture.ts';

const CLI = join(import.meta.dirname, '..', '..', 'cli', 'bin', 'trustix.js');
const LIE = '1;/nix/store/00000000000000000000000000000000-x;sha256:bad;1;';
const TRUTH = '1;/nix/store/00000000000000000000000000000000-x;sha256:good;1;';

const vote = (log: string, fingerprint: string | undefined, weight = 1): LogVote => ({
  log,
  logId: `id-${log}`,
  weight,
  fingerprints: fingerprint === undefined ? [] : [fingerprint],
  forked: false,
});

async function decideByDefault(votes: readonly LogVote[]) {
  const chain = await createDeciderChain(DEFAULT_VOTE);
  try {
    return await chain.decide(votes);
  } finally {
    await chain.close();
  }
}

test('the default vote: one builder of two, the other silent (eclipsed), decides nothing', async (t) => {
  const d = await decideByDefault([vote('hostile', LIE), vote('honest', undefined)]);
  t.is(d.fingerprint, undefined);
  t.deepEqual(d.reasons, [
    'majority: 1 of 2 logs (weight 1 of 2) agree; needs 2 logs and more than 1/2 of the weight',
  ]);
  // Even a heavy one: weight alone is not enough, it takes two logs.
  t.is((await decideByDefault([vote('hostile', LIE, 5), vote('honest', undefined)])).fingerprint, undefined);
});

test('the default vote: two agreeing logs with more than half of the weight decide; exactly half does not', async (t) => {
  const three = [vote('a', TRUTH), vote('b', TRUTH), vote('hostile', LIE)];
  t.like(await decideByDefault(three), { fingerprint: TRUTH, decider: 'majority' });
  // Two against two: half the weight each, never a decision (the old default called this a tie).
  const four = [vote('a', TRUTH), vote('b', TRUTH), vote('c', LIE), vote('d', LIE)];
  t.is((await decideByDefault(four)).fingerprint, undefined);
  // Two of four agreeing while the others are silent: half, not more.
  const quiet = [vote('a', LIE), vote('b', LIE), vote('c', undefined), vote('d', undefined)];
  t.is((await decideByDefault(quiet)).fingerprint, undefined);
});

test('majority round-trips and unsatisfiableVote names what is missing', (t) => {
  t.deepEqual(parseDeciderSpec('majority'), DEFAULT_VOTE[0]);
  t.deepEqual(parseDeciderSpec('majority count=3'), {
    kind: 'threshold',
    count: 3,
    fraction: { numerator: 1, denominator: 2 },
    strict: true,
  });
  t.throws(() => parseDeciderSpec('majority 3'), { message: /expected "majority" or "majority count=C"/ });
  t.regex(unsatisfiableVote(DEFAULT_VOTE, ['mercury']) ?? '', /needs at least 2 agreeing logs and 1 log is/);
  t.is(unsatisfiableVote(DEFAULT_VOTE, ['mercury', 'venus']), undefined);
  t.is(unsatisfiableVote([...DEFAULT_VOTE, parseDeciderSpec('trust mercury')], ['mercury']), undefined);
  t.regex(unsatisfiableVote([parseDeciderSpec('trust venus')], ['mercury']) ?? '', /none is trusted/);
});

test.serial(
  'start says when the default vote can never decide with the logs followed, and how to trust one',
  async (t) => {
    const dir = await tempDir('trustix-hostile-vote-');
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const mercury = generateNixSecretKey('mercury-1');
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        http: '127.0.0.1:0',
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: [],
        follow: [{ log: formatNixPublicKey(mercury), name: 'mercury' }],
      }),
    );
    const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.teardown(() => child.kill('SIGKILL'));
    const lines: string[] = [];
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        if (line.startsWith('Press Ctrl-C')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`start exited with ${code}: ${lines.join('\n')}`)));
    });
    t.true(lines.includes('  vote: majority'), lines.join('\n'));
    const warning = lines.find((l) => l.startsWith('  warning: '));
    t.regex(warning ?? '', /needs at least 2 agreeing logs and 1 log is followed: nothing will be decided/);
    t.regex(warning ?? '', /--vote 'trust mercury'/);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    t.is(await exited, 0);
  },
);
