/**
 * `trustix logs --watch` and `--log-level` through the command line: a line per change when stdout is not
 * a terminal, JSON lines with --json, a clean exit once stopped (in this process); log levels select what
 * goes to the process's stderr (the real binary, stopped by SIGINT).
 */
import { rm } from 'node:fs/promises';
import test from 'ava';
import { TrustixNode } from '../node/assembly/trustix-node.ts';
import { initDataDir } from '../node/store/data-dir.ts';
import { formatNixPublicKey, generateNixSecretKey } from '../protocol/keys.ts';
import { type CliResult, runCli, spawnCliUntil } from './helpers/cli.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { LOOPBACK_INIT } from './helpers/p2p.ts';

/** Runs the CLI in this process until `lines` lines came out, then stops it (its signal, as SIGINT would). */
async function watchUntil(args: string[], lines: number): Promise<CliResult & { out: string[] }> {
  const stop = new AbortController();
  const out: string[] = [];
  const result = await runCli(args, {
    signal: stop.signal,
    onLine: (line) => {
      out.push(line);
      if (out.length === lines) stop.abort('SIGINT');
    },
  });
  return { ...result, out };
}

test.serial(
  'logs --watch: a line per followed log (and per change), JSON lines with --json, exit 0 on SIGINT',
  async (t) => {
    const dir = await tempDir('trustix-cli-logs-');
    await initDataDir(dir, { name: 'watch-test-1' });
    const node = new TrustixNode({ dataDir: dir, http: false, p2p: LOOPBACK_INIT });
    await node.start();
    t.teardown(async () => {
      await node.stop();
      await rm(dir, { recursive: true, force: true });
    });
    for (const name of ['mercury', 'venus'])
      await node.followed.follow(formatNixPublicKey(generateNixSecretKey(name)), { name });

    const text = await watchUntil(['logs', '--watch', '--data-dir', dir], 2);
    t.is(text.code, 0, text.stderr);
    t.deepEqual(
      text.out.map((l) => l.replace(/: \w+ /, ': STATE ')),
      ['mercury: STATE 0/0', 'venus: STATE 0/0'],
    );
    const json = await watchUntil(['logs', '--watch', '--json', '--data-dir', dir], 2);
    t.is(json.code, 0, json.stderr);
    for (const line of json.out) t.is(JSON.parse(line).followed.length, 2);
  },
);

test.serial(
  'logs says why a followed log has no source yet: an isolated node says so, --json too',
  async (t) => {
    const dir = await tempDir('trustix-cli-logs-why-');
    await initDataDir(dir, { name: 'why-test-1' });
    // No bootstrap peer at all: the node is alone, as a new user's node with an empty list would be.
    const node = new TrustixNode({ dataDir: dir, http: false, p2p: LOOPBACK_INIT });
    await node.start();
    t.teardown(async () => {
      await node.stop();
      await rm(dir, { recursive: true, force: true });
    });
    await node.followed.follow(formatNixPublicKey(generateNixSecretKey('mercury')), { name: 'mercury' });

    const text = await runCli(['logs', '--data-dir', dir]);
    t.is(text.code, 0, text.stderr);
    t.regex(text.stdout, /mercury\s+full\s+searching\s+size 0/);
    t.regex(text.stdout, /\n {4}mercury: isolated: no peers connected, so nobody can be asked for it/);
    const json = await runCli(['logs', '--json', '--data-dir', dir]);
    const [followed] = JSON.parse(json.stdout).followed as {
      state: string;
      search: Record<string, unknown>;
    }[];
    t.is(followed!.state, 'searching');
    t.like(followed!.search, { reason: 'isolated', peers: 0 });
  },
);

test('--log-level: info logs what the node does on stderr; a bad level is a usage error', async (t) => {
  const dir = await tempDir('trustix-cli-loglevel-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const started = await spawnCliUntil(
    [
      'start',
      '--data-dir',
      dir,
      '--http',
      '127.0.0.1:0',
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--log-level',
      'info',
    ],
    1,
  );
  t.is(started.code, 0, started.err);
  t.regex(started.err, /trustix:database created store format/);
  const bad = await runCli(['logs', '--log-level', 'loud', '--data-dir', dir]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^trustix: [\s\S]*log-level/);
});
