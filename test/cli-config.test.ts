/**
 * The configuration through the real command line: `config show` resolves defaults, file and flags (and
 * its text is a config file again), and `start` runs with the file: its HTTP address, its vote, and the
 * logs it names, followed at start.
 */
import { execFile, spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import test from 'ava';
import { formatNixPublicKey, generateNixSecretKey, logKeyOf } from '../protocol/keys.ts';
import { tempDir } from './helpers/log-fixture.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix.js');

async function trustix(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('config show: defaults, then the file, then flags; the text form is a config file again', async (t) => {
  const dir = await tempDir('trustix-cli-config-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'config.json'),
    '{\n  // mine\n  "vote": ["threshold 2/3"],\n  "batch": { "intervalMs": 100 },\n  "upstreams": ["file:///srv/cache"]\n}\n',
  );
  const shown = await trustix(['config', 'show', '--json', '--data-dir', dir, '--vote', 'trust mercury']);
  t.is(shown.code, 0, shown.stderr);
  const c = JSON.parse(shown.stdout);
  t.like(c, {
    dataDir: dir,
    configFile: join(dir, 'config.json'),
    http: '127.0.0.1:8565',
    vote: ['trust mercury'],
    upstreams: ['file:///srv/cache/'],
    batch: { intervalMs: 100, maxSubmissions: 10000 },
    sync: { maxConcurrentSyncs: 2 },
  });
  const text = await trustix(['config', 'show', '--data-dir', dir]);
  await writeFile(join(dir, 'config.json'), text.stdout);
  const again = await trustix(['config', 'show', '--json', '--data-dir', dir]);
  t.is(again.code, 0, again.stderr);
  t.deepEqual({ ...JSON.parse(again.stdout), vote: null }, { ...c, vote: null });
  t.deepEqual(JSON.parse(again.stdout).vote, ['threshold 2/3']);
});

test.serial('start runs with the config file and follows the logs it names', async (t) => {
  const dir = await tempDir('trustix-cli-start-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const mercury = generateNixSecretKey('mercury-1');
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      http: '127.0.0.1:0',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      vote: ['threshold 1/1'],
      follow: [{ log: formatNixPublicKey(mercury), name: 'mercury', weight: 2 }],
    }),
  );
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`start did not come up: ${lines.join('\n')}`)), 60_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (line.startsWith('Press Ctrl-C')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`start exited with ${code}: ${lines.join('\n')}`)));
  });
  t.true(
    lines.some((l) => l.includes('vote: threshold 1/1')),
    lines.join('\n'),
  );
  t.true(lines.some((l) => /^ {2}substituters = http:\/\/127\.0\.0\.1:\d+$/.test(l)));
  t.true(lines.some((l) => /^ {2}trusted-public-keys = .+-cache:/.test(l)));
  const logs = await trustix(['logs', '--json', '--data-dir', dir]);
  t.is(logs.code, 0, logs.stderr);
  t.like(JSON.parse(logs.stdout).followed[0], { name: 'mercury', weight: 2, logId: logKeyOf(mercury).logId });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  t.is(await exited, 0);
});
