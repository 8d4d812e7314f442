/**
 * cli/main.ts as a function: the exit code returned (never process.exit), usage errors with the
 * documented `trustix:` prefix, --help and --version on the run's stdout, the command table that
 * --help lists matching the command modules it loads, and a start that loads only what a command uses:
 * client commands never load libp2p or LevelDB (docs/CLI.md).
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { COMMANDS } from '../cli/main.ts';
import { TrustixNode } from '../node/assembly/trustix-node.ts';
import { VERSION } from '../node/runtime/version.ts';
import { initDataDir } from '../node/store/data-dir.ts';
import { build, isFresh } from '../scripts/build.mjs';
import { CLI_BIN, runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { VECTORS } from './helpers/nix-fixtures.ts';
import { LOOPBACK_INIT } from './helpers/p2p.ts';

const run = promisify(execFile);
const MODULE_LOG_HOOK = join(import.meta.dirname, 'helpers', 'module-log.mjs');

test('usage errors: exit 2, "trustix: " and the message on stderr, nothing run, nothing on stdout', async (t) => {
  const dir = await tempDir('trustix-cli-usage-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cases: [string[], RegExp][] = [
    [[], /^trustix: Name a command \(see --help\)\.\n/],
    [['bogus'], /^trustix: Unknown command: bogus\n/],
    // Without a node, a run of `logs` would be exit 1: the unknown option stops it first.
    [['logs', '--bogus', '--data-dir', dir], /^trustix: Unknown arguments?: bogus\n/],
    [['decide', '--data-dir', dir], /^trustix: Not enough non-option arguments/],
    [['logs', '--log-level', 'loud', '--data-dir', dir], /^trustix: Invalid values:/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message, args.join(' '));
    t.regex(r.stderr, /Run 'trustix --help' for usage\.\n$/);
    t.is(r.stdout, '');
  }
});

test('--version and --help print on the run’s stdout and return 0', async (t) => {
  const version = await runCli(['--version']);
  t.deepEqual(version, { code: 0, stdout: `${VERSION}\n`, stderr: '' });
  const help = await runCli(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^trustix <command> \[options\]/);
  for (const entry of COMMANDS) t.true(help.stdout.includes(`trustix ${entry.command}`), entry.command);
  const logsHelp = await runCli(['logs', '--help']);
  t.is(logsHelp.code, 0);
  t.regex(logsHelp.stdout, /--watch/);
});

test('the command table --help lists says what each command module says', async (t) => {
  for (const entry of COMMANDS) {
    const module = await entry.load();
    t.is(module.command, entry.command);
    t.is(module.describe, entry.describe, entry.command);
  }
});

/** The node_modules packages `args` loads when the binary runs them. */
async function packagesLoaded(args: string[], log: string): Promise<Set<string>> {
  const packages = new Set<string>();
  for (const url of await modulesLoaded(args, log)) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) packages.add(m[1]!);
  }
  return packages;
}

/** The URLs of the modules `args` loads when the binary runs them (node: built-ins included). */
async function modulesLoaded(args: string[], log: string): Promise<string[]> {
  await rm(log, { force: true });
  await run(process.execPath, ['--import', MODULE_LOG_HOOK, CLI_BIN, ...args], {
    env: { ...process.env, TRUSTIX_MODULE_LOG: log },
    timeout: 60_000,
  }).catch((err: { code?: number }) => {
    // decide answers 3 for an undecided path; verify 1 for a data directory with no keys.
    if (typeof err.code !== 'number') throw err;
  });
  return [...new Set((await readFile(log, 'utf8')).split('\n').filter(Boolean))];
}

/** A running node (no HTTP, loopback libp2p) in a fresh data directory, stopped and removed at teardown. */
async function runningNode(t: ExecutionContext, name: string): Promise<string> {
  const dir = await tempDir(`trustix-cli-${name}-`);
  await initDataDir(dir, { name: `${name}-test-1` });
  const node = new TrustixNode({ dataDir: dir, http: false, p2p: LOOPBACK_INIT });
  await node.start();
  t.teardown(async () => {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

const HEAVY = /^(libp2p|@libp2p\/.*|@chainsafe\/.*|level|classic-level|abstract-level|datastore-level)$/;

test.serial('client commands, --version and --help load neither libp2p nor LevelDB', async (t) => {
  const dir = await runningNode(t, 'load');
  const log = join(dir, 'modules.log');
  // The method can fail: a command that opens the store loads LevelDB, and the hook sees it.
  const verify = await packagesLoaded(['verify', '--data-dir', join(dir, 'elsewhere')], log);
  t.true(
    [...verify].some((p) => HEAVY.test(p)),
    `verify loaded ${[...verify].join(' ')}`,
  );
  const path = VECTORS.vectors[0]!.storePath;
  for (const args of [
    ['--version'],
    ['--help'],
    ['logs', '--data-dir', dir],
    ['logs', '--json', '--data-dir', dir],
    ['peers', '--data-dir', dir],
    ['evidence', '--data-dir', dir],
    ['decide', path, '--data-dir', dir],
    ['follow', '--help'],
    ['unfollow', 'nobody', '--data-dir', dir],
    ['challenge', path, '--data-dir', dir],
  ]) {
    const loaded = [...(await packagesLoaded(args, log))];
    t.deepEqual(
      loaded.filter((p) => HEAVY.test(p)),
      [],
      `${args.join(' ')} loaded ${loaded.join(' ')}`,
    );
  }
});

/**
 * What keeps a client command fast (docs/CLI.md; `npm run bench -- cli` measures it): the
 * bin runs the compiled build without a TypeScript loader, a plain client command line never loads
 * yargs (cli/fast-path.ts) nor any other package, and its own modules stay few (each costs the start
 * a millisecond or two).
 */
const MAX_CLIENT_MODULES = 40;

test.serial('a plain client command runs compiled, loads no package and few modules', async (t) => {
  if (!isFresh()) await build();
  const dir = await runningNode(t, 'fast');
  const log = join(dir, 'modules.log');
  // The method can fail: a command line the fast path leaves to yargs loads it.
  t.true((await packagesLoaded(['logs', '--no-json', '--data-dir', dir], log)).has('yargs'));
  const path = VECTORS.vectors[0]!.storePath;
  for (const args of [
    ['--version'],
    ['logs', '--data-dir', dir],
    ['logs', '--json', '--limit', '5', '--data-dir', dir],
    ['peers', '--data-dir', dir],
    ['evidence', '--data-dir', dir],
    ['decide', path, '--data-dir', dir],
    ['decide', '--json', path, path, `--data-dir=${dir}`],
  ]) {
    const urls = await modulesLoaded(args, log);
    const own = urls.filter((u) => u.startsWith('file:') && !u.includes('/node_modules/'));
    t.deepEqual(
      urls.filter((u) => u.includes('/node_modules/')),
      [],
      `${args.join(' ')} loads no package (no yargs, no TypeScript loader)`,
    );
    t.false(
      own.some((u) => u.endsWith('.ts')),
      `${args.join(' ')} runs the compiled build: ${own.filter((u) => u.endsWith('.ts')).join(' ')}`,
    );
    t.true(
      own.length <= MAX_CLIENT_MODULES,
      `${args.join(' ')} loads ${own.length} modules of its own (at most ${MAX_CLIENT_MODULES}):\n${own.join('\n')}`,
    );
  }
});
