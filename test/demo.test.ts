/**
 * `trustix demo`, headless: in process (runDemo, its lines collected, stopped by its signal) and as the
 * real CLI (stopped by SIGINT). The key lines come in order: the four logs discovered over gossip, each
 * synced, an honest path served and saturn's lie refused by the vote, the challenge with exactly one
 * mismatch, the dashboard; then every node stops and the temporary directory is gone.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { runDemo } from '../node/demo/run-demo.ts';

const CLI = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix.js');
const run = promisify(execFile);

async function baseDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'trustix-demo-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Asserts that `patterns` match lines of `lines` in this order; returns the matching indices. */
function inOrder(t: ExecutionContext, lines: readonly string[], patterns: readonly RegExp[]): number[] {
  const at: number[] = [];
  let from = 0;
  for (const p of patterns) {
    const i = lines.findIndex((l, n) => n >= from && p.test(l));
    if (i < 0) {
      t.fail(`no line matching ${p} after line ${from}:\n${lines.join('\n')}`);
      return at;
    }
    at.push(i);
    from = i + 1;
  }
  t.pass();
  return at;
}

/** The key lines of a whole run with `n` builds (mercury all, venus and saturn n-2, mars 80% of those). */
function checkKeyLines(t: ExecutionContext, lines: readonly string[], n: number): void {
  const shared = n - 2;
  const sizes = { mercury: n, venus: shared, saturn: shared, mars: Math.floor(shared * 0.8) };
  const heard = lines.filter((l) => /^\[network\] heard of \w+'s log over gossip/.test(l));
  t.deepEqual(
    heard.map((l) => /heard of (\w+)'s/.exec(l)![1]).sort(),
    ['mars', 'mercury', 'saturn', 'venus'],
    'each of the four logs is discovered once',
  );
  const lastHeard = lines.lastIndexOf(heard.at(-1)!);
  for (const [name, size] of Object.entries(sizes)) {
    const synced = lines.findIndex((l) => l.startsWith(`[sync] ${name}: synced, ${size} entries fetched`));
    t.true(synced > lastHeard, `${name} synced (${size} entries) after the discovery:\n${lines.join('\n')}`);
  }
  inOrder(t, lines, [
    /^\[sync\] all 4 logs synced and verified/,
    /^\[vote\] served {2}\(HTTP 200\) {2}\/nix\/store\/[0-9a-z]{32}-hello-2\.12\.1$/,
    /^\[vote\] {5}all 4 logs agree/,
    /^\[vote\] {5}narinfo signed by your key my-node-cache; its NAR \(\d+ bytes\) has the voted hash$/,
    /^\[vote\] served {2}\(HTTP 200\) {2}\/nix\/store\/[0-9a-z]{32}-curl-8\.8\.0$/,
    /^\[vote\] refused \(HTTP 404\) {2}\/nix\/store\/[0-9a-z]{32}-openssl-3\.0\.14$/,
    /^\[vote\] {5}saturn disagrees: mercury and venus say sha256:\w+\.\.\., saturn says sha256:\w+\.\.\.$/,
    /^\[vote\] {5}mars has not built it$/,
    /^\[vote\] refused \(HTTP 404\) {2}\/nix\/store\/[0-9a-z]{32}-firefox-128\.0$/,
    new RegExp(`^\\[challenge\\] ${n} store paths compared`),
    new RegExp(`^\\[challenge\\] {3}${n - 3} identical`),
    /^\[challenge\] {3}1 differ between builders$/,
    /^\[challenge\] {3}2 inconclusive/,
    new RegExp(
      `^\\[challenge\\] {3}reproducibility [<>]?[0-9.]+% \\(${n - 3} of the ${n - 2} paths built by two or more logs are identical\\)$`,
    ),
    /^\[challenge\] \/nix\/store\/[0-9a-z]{32}-openssl-3\.0\.14 differs:$/,
    /^\[challenge\] {3}saturn: +sha256:[0-9a-z]{52}$/,
    /^\[challenge\] {3}differing content: bin\/openssl \(mercury \d+ bytes sha256:[0-9a-f]{64}, saturn \d+ bytes/,
    /^\[dashboard\] http:\/\/127\.0\.0\.1:\d+\//,
    /^\[demo\] Press Ctrl-C to stop\.$/,
    /^\[demo\] stopping 6 nodes\.\.\.$/,
    /^\[demo\] all nodes stopped; removed /,
  ]);
  t.is(lines.filter((l) => / differs:$/.test(l)).length, 1, 'exactly one path differs');
}

test.serial(
  'runDemo, headless: the key lines in order, the dashboard up, then everything stopped and removed',
  async (t) => {
    t.timeout(600_000);
    const base = await baseDir(t);
    const lines: string[] = [];
    const stop = new AbortController();
    const ready = Promise.withResolvers<void>();
    const demo = runDemo({
      entries: 40,
      baseDir: base,
      signal: stop.signal,
      // The user hears each builder's log only once connected to that builder (a republished checkpoint
      // is a duplicate to the bootstrap node, which does not forward it), and those connections come from
      // DHT traffic that a loaded machine slows to over a minute: a generous bound per step.
      stepTimeoutMs: 180_000,
      out: (line) => {
        lines.push(line);
        if (line === '[demo] Press Ctrl-C to stop.') ready.resolve();
      },
    });
    // A demo that fails before it is ready fails the test with its own error.
    await Promise.race([ready.promise, demo]);
    const dashboard = /^\[dashboard\] (\S+)/.exec(lines.find((l) => l.startsWith('[dashboard] ')) ?? '')?.[1];
    t.truthy(dashboard, lines.join('\n'));
    const page = await fetch(dashboard!);
    t.is(page.status, 200);
    t.regex(page.headers.get('content-type') ?? '', /text\/html/);
    await page.arrayBuffer();
    t.is((await readdir(base)).length, 1, 'the demo works in one directory under baseDir');

    stop.abort();
    const result = await demo;
    t.like(result, { completed: true, kept: false, dashboard });
    checkKeyLines(t, lines, 40);
    t.deepEqual(await readdir(base), [], 'the temporary directory is gone');
    await t.throwsAsync(fetch(dashboard!), undefined, 'the user node no longer listens');
  },
);

test.serial('runDemo stopped during setup: cleans up and reports it did not complete', async (t) => {
  t.timeout(120_000);
  const base = await baseDir(t);
  const stop = new AbortController();
  const lines: string[] = [];
  const result = await runDemo({
    entries: 20,
    baseDir: base,
    signal: stop.signal,
    out: (line) => {
      lines.push(line);
      // Abort as soon as the builders exist: the user node never starts.
      if (line.startsWith('[network] builder mars')) stop.abort();
    },
  });
  t.false(result.completed);
  t.is(result.dashboard, undefined);
  t.false(lines.some((l) => l.startsWith('[vote]')));
  t.regex(lines.at(-1) ?? '', /^\[demo\] all nodes stopped; removed /);
  t.true(lines.includes('[demo] stopping 5 nodes...'), lines.join('\n'));
  t.deepEqual(await readdir(base), []);
});

test.serial(
  '`trustix demo --entries 60` as a real process: SIGINT stops it cleanly with exit code 0',
  async (t) => {
    t.timeout(240_000);
    const base = await baseDir(t);
    const child = spawn(process.execPath, [CLI, 'demo', '--entries', '60'], {
      // os.tmpdir() follows TMPDIR: the demo's directory lands where the test can check it is removed.
      env: { ...process.env, TMPDIR: base },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const lines: string[] = [];
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // A bound for a demo that never gets ready (a hang), not a guess at its speed: loaded machines are slow.
    const late = setTimeout(() => child.kill('SIGKILL'), 200_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (line === '[demo] Press Ctrl-C to stop.') child.kill('SIGINT');
    });
    const code = await exited;
    clearTimeout(late);
    t.is(code, 0, `stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`);
    t.false(
      lines.some((l) => l.includes('\x1b[')),
      'no colour codes when stdout is not a terminal',
    );
    checkKeyLines(t, lines, 60);
    t.regex(stderr, /SIGINT: stopping the demo/);
    // (tsx keeps its compile cache in TMPDIR too.)
    const left = (await readdir(base)).filter((f) => f.startsWith('trustix-'));
    t.deepEqual(left, [], 'the temporary directory is gone');
  },
);

test('`trustix demo` refuses bad arguments and --json with exit code 2', async (t) => {
  for (const args of [['--entries', '5'], ['--json']]) {
    const err = await t.throwsAsync(run(process.execPath, [CLI, 'demo', ...args], { timeout: 30_000 }));
    t.is((err as unknown as { code: number }).code, 2, `${args.join(' ')}: ${(err as Error).message}`);
  }
});
