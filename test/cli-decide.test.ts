/**
 * `trustix decide` and the vote's configuration through the real command line: exit codes, the JSON
 * document, and configuration errors that name the file, the line and the option.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { TrustixNode } from '../node/assembly/trustix-node.ts';
import { initDataDir } from '../node/store/data-dir.ts';
import { formatNixPublicKey, generateNixSecretKey } from '../protocol/keys.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { VECTORS } from './helpers/nix-fixtures.ts';
import { LOOPBACK_INIT } from './helpers/p2p.ts';

test.serial(
  'trustix decide: an undecided path exits 3 with the full report; a bad path exits 2',
  async (t) => {
    const dir = await tempDir('trustix-cli-decide-');
    await initDataDir(dir, { name: 'decide-test-1' });
    const node = new TrustixNode({ dataDir: dir, http: false, p2p: LOOPBACK_INIT });
    await node.start();
    t.teardown(async () => {
      await node.stop();
      await rm(dir, { recursive: true, force: true });
    });
    // Two followed logs that have nothing yet (no peer serves them): both miss.
    for (const name of ['mercury', 'venus'])
      await node.followed.follow(formatNixPublicKey(generateNixSecretKey(name)), { name });
    const path = VECTORS.vectors[0]!.storePath;

    const undecided = await runCli(['decide', path, '--json', '--data-dir', dir]);
    t.is(undecided.code, 3, undecided.stderr);
    const json = JSON.parse(undecided.stdout);
    t.is(json.reasons.length, 1);
    t.regex(json.reasons[0], /^majority: /, 'the default vote, and why it did not decide');
    t.deepEqual(
      { ...json, reasons: [] },
      {
        path,
        decided: false,
        storePath: null,
        fingerprint: null,
        decider: null,
        agreeing: [],
        mismatches: [],
        misses: ['mercury', 'venus'],
        abstentions: [],
        tally: [],
        totalWeight: 2,
        reasons: [],
        // Both logs are followed full: no vote came from a light lookup.
        light: [],
        unanswered: [],
      },
    );
    t.regex(undecided.stderr, /1 of 1 path\(s\) not decided/);

    const text = await runCli(['decide', path, VECTORS.vectors[1]!.hashPart, '--data-dir', dir]);
    t.is(text.code, 3);
    t.regex(text.stdout, /NOT decided[\s\S]*misses\s+mercury, venus/);

    const bad = await runCli(['decide', '/nix/store/not-a-path', '--data-dir', dir]);
    t.is(bad.code, 2, bad.stderr);
    t.regex(bad.stderr, /store path/);
  },
);

test('trustix start refuses a bad config file or --vote with exit 2, naming the file, line and option', async (t) => {
  const dir = await tempDir('trustix-cli-config-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.json');
  await writeFile(config, '{\n  // the vote\n  "vote": ["threshold 3/4", "trust"]\n}\n');
  const bad = await runCli(['start', '--data-dir', dir, '--http', '127.0.0.1:0']);
  t.is(bad.code, 2, bad.stderr);
  t.is(bad.stderr, `trustix: ${config}:3: vote[1]: malformed decider: "trust": expected "trust NAME"\n`);

  const missing = await runCli(['start', '--data-dir', dir, '--config', join(dir, 'nope.json')]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /nope\.json: cannot read/);

  await writeFile(config, '{}');
  const flag = await runCli(['start', '--data-dir', dir, '--vote', 'plurality']);
  t.is(flag.code, 2);
  t.regex(flag.stderr, /unknown decider "plurality"/);
});
