/**
 * `trustix logs --watch` and `--log-level` through the real command line: a line per change when stdout
 * is not a terminal, JSON lines with --json, a clean exit on SIGINT; log levels select what goes to stderr.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { initDataDir } from '../node/store/data-dir.ts';
import { TrustixNode } from '../node/trustix-node.ts';
import { formatNixPublicKey, generateNixSecretKey } from '../protocol/keys.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { LOOPBACK_INIT } from './helpers/p2p.ts';

const CLI = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix.js');

/** Runs the CLI until `lines` lines came out, then SIGINT; its exit code and output. */
function runUntil(
  args: string[],
  lines: number,
): Promise<{ code: number | null; out: string[]; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: string[] = [];
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ${lines} lines within 30 s: ${out.join('\n')}\n${err}`));
    }, 30_000);
    child.stderr.on('data', (d) => (err += d));
    createInterface({ input: child.stdout }).on('line', (line) => {
      out.push(line);
      if (out.length === lines) child.kill('SIGINT');
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, out, err: `${err}${signal ? `\n(killed by ${signal})` : ''}` });
    });
  });
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

    const text = await runUntil(['logs', '--watch', '--data-dir', dir], 2);
    t.is(text.code, 0, text.err);
    t.deepEqual(
      text.out.map((l) => l.replace(/: \w+ /, ': STATE ')),
      ['mercury: STATE 0/0', 'venus: STATE 0/0'],
    );
    const json = await runUntil(['logs', '--watch', '--json', '--data-dir', dir], 2);
    t.is(json.code, 0, json.err);
    for (const line of json.out) t.is(JSON.parse(line).followed.length, 2);
  },
);

test('--log-level: info logs what the node does on stderr; a bad level is a usage error', async (t) => {
  const dir = await tempDir('trustix-cli-loglevel-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const started = await runUntil(
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
  const bad = await runUntil(['logs', '--log-level', 'loud', '--data-dir', dir], 1);
  t.is(bad.code, 2);
  t.regex(bad.err, /log-level/);
});
