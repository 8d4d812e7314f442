/**
 * The README, followed on a clean checkout: every command of its ```sh blocks, in order (install, start,
 * follow, logs, decide). The commands are read from README.md, so a README that changes shape changes
 * what runs, and a command this test does not know fails it until the test is taught.
 *
 * The checkout: the files of the working tree that git would check out (`git ls-files --cached --others
 * --exclude-standard`: tracked and new files, no ignored ones such as node_modules or data directories),
 * copied to a temporary directory. A `git clone` would check out the last commit instead of the code under
 * test; in CI, a fresh clone, the two are the same.
 *
 * Literal: the commands, their arguments and their order; the working directory (the checkout); the data
 * directory, the default one of a fresh machine (~/.local/share/trustix under a temporary HOME, with
 * XDG_DATA_HOME, TRUSTIX_DATA_DIR and TRUSTIX_SOCKET unset); `npx trustix` resolving, without installing
 * anything, to the checkout's own command (checked with `npx --no-install trustix --version`).
 *
 * Adapted, and why:
 * - `npm install` symlinks this repository's node_modules into the checkout: installing from the registry
 *   on every test run is slow and needs the network.
 * - `npx trustix ARGS` runs as `node <checkout>/cli/bin/trustix.js ARGS`, the file npx runs (npx costs
 *   seconds per command, and stands between the node and the SIGINT that stops it).
 * - `npx trustix start` gets `--http 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0` appended, so that it does
 *   not collide with a node already running here (HTTP 8565, TCP 8566) nor listen on every interface;
 *   `trustix config show` checks that without them it would use the addresses the README names.
 * - `npm run SCRIPT` is only checked to be a script of package.json: `npm run check` is the whole suite,
 *   this test included.
 * - `npx trustix demo` is not run: it runs until Ctrl-C, and test/demo.test.ts runs it.
 * - The checks the README implies: start prints the two nix.conf lines (the key is the data directory's
 *   cache.public) and serves /nix-cache-info there, the followed log shows in `trustix logs --json`,
 *   decide exits 3 (nothing followed has entries), and SIGINT stops the node with exit 0.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFile, lstat, mkdir, readFile, readlink, rm, stat, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import test from 'ava';
import { parseLogKey } from '../protocol/keys.ts';
import { tempDir } from './helpers/log-fixture.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
/** Appended to `trustix start` (see above). */
const LOOPBACK_FLAGS = ['--http', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0'];
/** Exit codes the README's commands are expected to end with, when not 0. */
const EXPECTED_EXIT: Readonly<Record<string, number>> = { decide: 3 };
/** Commands the README may show that this test does not run, and why. */
const NOT_RUN: Readonly<Record<string, string>> = {
  demo: 'runs until Ctrl-C; test/demo.test.ts runs it',
};

/** One shell command of a ```sh block, split into words. */
interface ReadmeCommand {
  readonly block: number;
  readonly text: string;
  readonly words: readonly string[];
}

/** Splits a shell command into words: whitespace-separated, '…' and "…" quoting, no expansions. */
function shellWords(text: string): string[] {
  const words: string[] = [];
  for (const m of text.matchAll(/(?:'([^']*)'|"([^"]*)"|([^\s'"]+))+/g))
    words.push(m[0].replace(/['"]/g, ''));
  return words;
}

/** The commands of every ```sh block: comments dropped, `\` continuations joined, split at && and ;. */
function readmeCommands(markdown: string): ReadmeCommand[] {
  const commands: ReadmeCommand[] = [];
  const blocks = markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm);
  for (const [block, m] of [...blocks].entries()) {
    const script = m[1]!
      .split('\n')
      .map((line) => line.replace(/(^|\s)#.*$/, ''))
      .join('\n')
      .replace(/\\\n/g, ' ');
    for (const line of script.split('\n'))
      for (const part of line.split(/&&|;/)) {
        const text = part.trim().replace(/\s+/g, ' ');
        if (text !== '') commands.push({ block, text, words: shellWords(text) });
      }
  }
  return commands;
}

/** Copies the files git would check out of `from` (see above) to `to`; returns how many. */
async function copyCheckout(from: string, to: string): Promise<number> {
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: from,
    maxBuffer: 64 * 1024 * 1024,
  });
  let copied = 0;
  for (const file of stdout.split('\0').filter((f) => f !== '')) {
    const source = join(from, file);
    const target = join(to, file);
    const info = await lstat(source).catch(() => undefined); // deleted in the working tree: not checked out
    if (info === undefined || !(info.isFile() || info.isSymbolicLink())) continue;
    await mkdir(dirname(target), { recursive: true });
    if (info.isSymbolicLink()) await symlink(await readlink(source), target);
    else await copyFile(source, target); // keeps the mode (cli/bin/*.js are executable)
    copied++;
  }
  return copied;
}

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function exec(
  file: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<Result> {
  try {
    const { stdout, stderr } = await run(file, args, { ...options, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('readmeCommands splits ```sh blocks into commands and words, and reads no other block', (t) => {
  const markdown = [
    '```sh',
    'npm install && npx trustix start   # a comment',
    "npx trustix follow 'a b' \\",
    '  --name "x y"; npx trustix logs',
    '```',
    '```',
    'substituters = http://127.0.0.1:8565',
    '```',
  ].join('\n');
  t.deepEqual(
    readmeCommands(markdown).map((c) => c.words),
    [
      ['npm', 'install'],
      ['npx', 'trustix', 'start'],
      ['npx', 'trustix', 'follow', 'a b', '--name', 'x y'],
      ['npx', 'trustix', 'logs'],
    ],
  );
});

test.serial('the README on a clean checkout: install, start, follow, logs, decide, stop', async (t) => {
  t.timeout(240_000);
  const commands = readmeCommands(await readFile(join(ROOT, 'README.md'), 'utf8'));
  const tmp = await tempDir('trustix-readme-');
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const checkout = join(tmp, 'trustix');
  const home = join(tmp, 'home');
  await mkdir(home);
  t.true((await copyCheckout(ROOT, checkout)) > 50, 'a checkout has files');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    FORCE_COLOR: '0',
    npm_config_update_notifier: 'false',
  };
  for (const name of ['XDG_DATA_HOME', 'TRUSTIX_DATA_DIR', 'TRUSTIX_SOCKET', 'TRUSTIX_LOG_LEVEL', 'DEBUG'])
    delete env[name];
  const dataDir = join(home, '.local', 'share', 'trustix');
  const bin = join(checkout, 'cli', 'bin', 'trustix.js');
  const trustix = (args: string[]) => exec(process.execPath, [bin, ...args], { cwd: checkout, env });
  const { scripts, version } = JSON.parse(await readFile(join(checkout, 'package.json'), 'utf8')) as {
    scripts: object;
    version: string;
  };
  let npxCheck: Promise<Result> | undefined;

  let node: { child: ReturnType<typeof spawn>; exited: Promise<number | null> } | undefined;
  t.teardown(() => node?.child.kill('SIGKILL'));
  let followed: { log: string; name: string } | undefined;
  const done = new Set<string>();
  for (const { text, words } of commands) {
    const [program, ...args] = words;
    if (program === 'npm' && args.length === 1 && args[0] === 'install') {
      if (!done.has('install')) {
        await symlink(join(ROOT, 'node_modules'), join(checkout, 'node_modules'));
        // Checked at the end: it takes seconds, and needs nothing else.
        npxCheck = exec('npx', ['--no-install', 'trustix', '--version'], { cwd: checkout, env });
      }
      done.add('install');
      continue;
    }
    if (program === 'npm' && args[0] === 'run' && args[1] !== undefined) {
      t.true(args[1] in scripts, `\`${text}\`: package.json has no script ${args[1]}`);
      continue;
    }
    if (program !== 'npx' || args[0] !== 'trustix' || args[1] === undefined) {
      t.fail(
        `README.md shows \`${text}\`, which this test does not know how to follow: teach test/readme.test.ts`,
      );
      continue;
    }
    const [command, ...rest] = args.slice(1) as [string, ...string[]];
    if (!done.has('install')) t.fail(`\`${text}\` comes before npm install`);
    if (command in NOT_RUN) {
      t.log(`not run: \`${text}\` (${NOT_RUN[command]})`);
      continue;
    }
    done.add(command);
    if (command === 'start') {
      // Without the appended flags, start would use the addresses the README gives.
      const showing = trustix(['config', 'show', '--json', ...rest]);
      node = await startNode(bin, [...rest, ...LOOPBACK_FLAGS], checkout, env, async (lines) => {
        t.is(lines[0], `Created ${dataDir}`, lines.join('\n'));
        const substituter = lines
          .map((l) => /^ {2}substituters = (http:\/\/127\.0\.0\.1:\d+)$/.exec(l)?.[1])
          .find(Boolean);
        const key = lines.map((l) => /^ {2}trusted-public-keys = (\S+)$/.exec(l)?.[1]).find(Boolean);
        t.truthy(substituter, lines.join('\n'));
        t.is(key, (await readFile(join(dataDir, 'cache.public'), 'utf8')).trim());
        t.true(lines.includes(`  post-build-hook = ${join(dataDir, 'post-build-hook')}`), lines.join('\n'));
        t.false(
          lines.some((l) => l.includes('TRUSTIX_DATA_DIR')),
          'the default data directory needs no variable',
        );
        const info = await fetch(`${substituter}/nix-cache-info`);
        t.is(info.status, 200);
        t.regex(await info.text(), /^StoreDir: \/nix\/store$/m);
      });
      const shown = await showing;
      t.is(shown.code, 0, shown.stderr);
      t.like(JSON.parse(shown.stdout), {
        dataDir,
        http: '127.0.0.1:8565',
        listen: ['/ip4/0.0.0.0/tcp/8566', '/ip6/::/tcp/8566'],
      });
      t.is((await stat(dataDir)).mode & 0o777, 0o700);
      for (const secret of ['log.secret', 'cache.secret', 'peer.secret'])
        t.is((await stat(join(dataDir, secret))).mode & 0o777, 0o600, secret);
      t.true((await stat(join(dataDir, 'trustix.sock'))).isSocket());
      continue;
    }
    if (node === undefined) {
      t.fail(`\`${text}\` comes before the node is started`);
      continue;
    }
    const result = await trustix([command, ...rest]);
    t.is(result.code, EXPECTED_EXIT[command] ?? 0, `\`${text}\`: ${result.stdout}${result.stderr}`);
    if (command === 'follow') {
      const nameAt = rest.indexOf('--name');
      followed = { log: rest[0]!, name: nameAt >= 0 ? rest[nameAt + 1]! : parseLogKey(rest[0]!).name };
    }
    if (command === 'logs' && followed)
      t.regex(
        result.stdout,
        new RegExp(`^ {2}${followed.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `, 'm'),
      );
    if (command === 'decide') t.regex(result.stdout, /NOT decided/);
  }
  for (const step of ['install', 'start', 'follow', 'logs', 'decide'])
    t.true(done.has(step), `the README no longer shows ${step}: this test needs it (or a new shape)`);
  if (npxCheck !== undefined) {
    const npx = await npxCheck;
    t.is(npx.code, 0, `npx trustix does not resolve in the checkout: ${npx.stderr}`);
    t.is(npx.stdout.trim(), version);
  }
  if (node === undefined || followed === undefined) return;

  const { log, name } = followed;
  const logs = await trustix(['logs', '--json']);
  t.is(logs.code, 0, logs.stderr);
  t.like(
    (JSON.parse(logs.stdout) as { followed: { name: string }[] }).followed.find((f) => f.name === name),
    {
      name,
      vkey: parseLogKey(log).vkey,
      logId: parseLogKey(log).logId,
    },
  );
  node.child.kill('SIGINT');
  t.is(await node.exited, 0, 'SIGINT stops the node cleanly');
  await t.throwsAsync(stat(join(dataDir, 'trustix.sock')), { code: 'ENOENT' }, 'the socket is gone');
});

/** Starts `trustix start ARGS` and waits for its "Press Ctrl-C" line; `check` gets what it printed. */
async function startNode(
  bin: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  check: (lines: string[]) => Promise<void>,
): Promise<{ child: ReturnType<typeof spawn>; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [bin, 'start', ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`start did not come up:\n${lines.join('\n')}\n${stderr}`)),
      90_000,
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (line.startsWith('Press Ctrl-C')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`start exited with ${code}:\n${lines.join('\n')}\n${stderr}`));
    });
  });
  await check(lines);
  return { child, exited };
}
