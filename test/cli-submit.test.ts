/**
 * `trustix submit` says what the node made of each path (published, or refused and why) and exits 3 when
 * any was refused; and the vote's commands on a bootstrap node say plainly that it has no vote (exit 2).
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { TrustixNode } from '../node/assembly/trustix-node.ts';
import { submit } from '../node/socket/submit-client.js';
import { initDataDir } from '../node/store/data-dir.ts';
import { formatNixPublicKey, generateNixSecretKey } from '../protocol/keys.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { waitFor } from './helpers/p2p.ts';
import { nixTest, realNix } from './helpers/real-nix.ts';
import { fingerprint, prng, randomNarHash } from './helpers/synthetic-entries.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix.js');

async function trustix(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 120_000, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

nixTest(
  'trustix submit: a valid path is published, one Nix does not know is refused with why; exit 3',
  async (t) => {
    const nix = await realNix();
    const dataDir = await tempDir('trustix-cli-submit-');
    await initDataDir(dataDir, { name: 'submit-test-1' });
    const node = new TrustixNode({
      dataDir,
      http: false,
      p2p: false,
      sequencer: { intervalMs: 20 },
      nix: { env: nix.env },
      memory: false,
    });
    await node.start();
    t.teardown(async () => {
      await node.stop();
      await nix.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    });
    const file = await nix.writeNix(
      'submit',
      `{ a = derivation { name = "submit-a"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo ${nix.salt} > $out"]; }; }`,
    );
    const [built] = await nix.build(file, 'a');
    const unknown = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-not-built-here';

    const good = await trustix(['submit', built!, '--data-dir', dataDir], nix.env);
    t.is(good.code, 0, good.stderr);
    t.is(good.stdout.trim(), `published ${built}`);
    t.is(node.ownLog.size, 1);

    const mixed = await trustix(['submit', built!, unknown, '--json', '--data-dir', dataDir], nix.env);
    t.is(mixed.code, 3, mixed.stderr);
    const json = JSON.parse(mixed.stdout);
    t.deepEqual(json.paths, [built, unknown]);
    t.is(json.queued, 2);
    t.deepEqual(json.results[0], { path: built, status: 'published' });
    t.like(json.results[1], {
      path: unknown,
      status: 'refused',
      error: { code: 'ERR_STORE_PATH_NOT_VALID' },
    });
    t.regex(json.results[1].error.message, /not-built-here/);

    const text = await trustix(['submit', unknown, '--data-dir', dataDir], nix.env);
    t.is(text.code, 3);
    t.regex(text.stdout, new RegExp(`^refused ${unknown}: `));
    t.is(node.ownLog.size, 1, 'nothing refused was published');
  },
);

nixTest(
  'trustix submit: a path whose entries reached the per-path cap is refused (ERR_PATH_FULL, naming the path and the cap), not published; exit 3',
  async (t) => {
    const nix = await realNix();
    const dataDir = await tempDir('trustix-cli-submit-full-');
    await initDataDir(dataDir, { name: 'submit-test-2' });
    // A cap of one entry per path: the first (another build's fingerprint) fills it.
    const node = new TrustixNode({
      dataDir,
      http: false,
      p2p: false,
      sequencer: { intervalMs: 20, maxPathEntries: 1 },
      nix: { env: nix.env },
      memory: false,
    });
    await node.start();
    t.teardown(async () => {
      await node.stop();
      await nix.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    });
    const file = await nix.writeNix(
      'submit-full',
      `{ a = derivation { name = "submit-full"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo ${nix.salt} > $out"]; }; }`,
    );
    const [built] = await nix.build(file, 'a');
    const socket = join(dataDir, 'trustix.sock');
    await submit(socket, [{ kind: 'entry', entry: fingerprint(built!, randomNarHash(prng(7)), 1, []) }]);
    await waitFor('the other build published', () => node.ownLog.size === 1);

    const full = await trustix(['submit', built!, '--data-dir', dataDir], nix.env);
    t.is(full.code, 3, full.stderr);
    t.regex(full.stdout, new RegExp(`^refused ${built}: .*1 entries for ${built}`));
    const json = await trustix(['submit', built!, '--json', '--data-dir', dataDir], nix.env);
    t.is(json.code, 3);
    t.like(JSON.parse(json.stdout).results[0], {
      path: built,
      status: 'refused',
      error: { code: 'ERR_PATH_FULL' },
    });
    t.is(node.ownLog.size, 1, 'nothing beyond the cap was published');
  },
);

test('decide, challenge and follow on a bootstrap node say it has no vote, exit 2', async (t) => {
  const dataDir = await tempDir('trustix-cli-boot-');
  const node = new TrustixNode({ dataDir, role: 'bootstrap', http: false, p2p: false, memory: false });
  await node.start();
  t.teardown(async () => {
    await node.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const path = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello';
  const key = formatNixPublicKey(generateNixSecretKey('mercury'));
  for (const args of [['decide', path], ['challenge', path], ['challenge'], ['follow', key]]) {
    const r = await trustix([...args, '--data-dir', dataDir]);
    t.is(r.code, 2, `${args[0]}: ${r.stderr}`);
    t.regex(r.stderr, /this is a bootstrap node: it has no vote/, args[0]);
  }
  t.is(node.followed.list().length, 0);
});
