/**
 * The post-build hook with the real Nix client and the node down: every build succeeds and leaves a
 * spool file; the node, started afterwards, publishes them all. A `kill -9` of the node while it takes
 * in a spool of 1,000 builds loses none and duplicates none. A read-only spool makes the hook warn on
 * stderr while the build still succeeds.
 */
import { execFile, spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { appendFile, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TrustixNode } from '../node/assembly/trustix-node.ts';
import { postBuildHookScript, writePostBuildHook } from '../node/own-log/post-build-hook.ts';
import { dataDir, initDataDir } from '../node/store/data-dir.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import { parseEntry } from '../protocol/entry.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { nixFingerprint, nixSerialTest as nixTest, type RealNix, realNix } from './helpers/real-nix.ts';

const run = promisify(execFile);
const decoder = new TextDecoder();

/** A data directory with keys, its hook in the test's nix.conf, and the node not running. */
async function builder(nix: RealNix) {
  const dir = await tempDir('trustix-spool-builder-');
  await initDataDir(dir, { name: 'spool-test-1' });
  const paths = dataDir(dir);
  await writePostBuildHook(paths.postBuildHook, paths.spool);
  await appendFile(join(nix.dir, 'conf', 'nix.conf'), `post-build-hook = ${paths.postBuildHook}\n`);
  return { dir, paths };
}

function startNode(dir: string, nix: RealNix): TrustixNode {
  return new TrustixNode({
    dataDir: dir,
    http: false,
    p2p: false,
    memory: false,
    sequencer: { intervalMs: 50 },
    nix: { env: nix.env },
  });
}

/** The log's entries, in order. */
async function entriesOf(node: TrustixNode): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < node.ownLog.size; i++) out.push(decoder.decode((await node.ownLog.entry(i))!));
  return out;
}

/** Waits until everything spooled and queued is in the log. */
async function published(node: TrustixNode): Promise<void> {
  await node.spool!.drained();
  await node.sequencer.flushed();
}

nixTest(
  'with the node down every build succeeds; started afterwards, the node publishes them all',
  async (t) => {
    const nix = await realNix();
    const { dir, paths } = await builder(nix);
    t.teardown(async () => {
      await nix.cleanup();
      await rm(dir, { recursive: true, force: true });
    });
    const s = nix.salt;
    const file = await nix.writeNix(
      'builds',
      `let mk = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" script]; }; in rec {
      a = mk "spool-a" "echo ${s} > $out";
      b = mk "spool-b" "/bin/mkdir $out; echo \${a} > $out/dep; echo ${s} > $out/salt";
      multi = derivation { name = "spool-multi"; system = builtins.currentSystem; builder = "/bin/sh";
        outputs = ["out" "dev"]; args = ["-c" "echo ${s} > $out; echo ${s} > $dev"]; };
    }`,
    );
    // No node runs: the old hook failed here (exit 1), and Nix failed the build with it.
    for (const attr of ['a', 'b', 'multi']) {
      const out = await run('nix-build', [file, '-A', attr, '--no-out-link'], {
        env: nix.env,
        timeout: 120_000,
      });
      t.notRegex(out.stderr, /trustix post-build hook/);
    }
    t.is((await readdir(paths.spool)).length, 3, 'one spool file per build');

    const outputs: string[] = [];
    for (const attr of ['a', 'b', 'multi']) {
      const drv = await nix.instantiate(file, attr);
      outputs.push(
        ...(await nix.nix('nix-store', ['--query', '--outputs', drv])).split('\n').filter(Boolean),
      );
    }
    const expected = await Promise.all(outputs.map((p) => nixFingerprint(nix, p)));

    const node = startNode(dir, nix);
    await node.start();
    t.teardown(() => node.stop());
    await published(node);
    t.deepEqual((await entriesOf(node)).sort(), expected.sort());
    t.deepEqual(await readdir(paths.spool), ['rejected'], 'every spool file removed once queued');
  },
);

nixTest('a read-only spool: the hook warns on stderr and the build still succeeds', async (t) => {
  const nix = await realNix();
  const { dir, paths } = await builder(nix);
  t.teardown(async () => {
    await nix.cleanup();
    await rm(dir, { recursive: true, force: true });
  });
  const file = await nix.writeNix(
    'ro',
    `{ a = derivation { name = "spool-ro"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo ${nix.salt} > $out"]; }; }`,
  );
  // Root writes anywhere it may: a read-only bind mount of the spool, in a mount namespace of the build.
  const script = `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && exec nix-build "$2" -A a --no-out-link`;
  const out = await run('unshare', ['--mount', 'sh', '-c', script, 'sh', paths.spool, file], {
    env: nix.env,
    timeout: 120_000,
  });
  t.regex(out.stdout, /^\/nix\/store\/[a-z0-9]{32}-spool-ro\n$/);
  t.regex(out.stderr, /trustix post-build hook: cannot write to the spool .*: this build is not published/);
  t.deepEqual(await readdir(paths.spool), []);
});

nixTest(
  'kill -9 of the node while it takes in 1,000 spooled builds loses none and duplicates none',
  async (t) => {
    const nix = await realNix();
    const { dir, paths } = await builder(nix);
    t.teardown(async () => {
      await nix.cleanup();
      await rm(dir, { recursive: true, force: true });
    });
    t.timeout(1_500_000, '1,000 real builds on a loaded machine');
    const N = Number(process.env['TRUSTIX_TEST_SPOOL_BUILDS'] ?? 1000);
    const file = await nix.writeNix(
      'many',
      `{ all = builtins.genList (i: derivation { name = "spool-\${toString i}"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo ${nix.salt}-\${toString i} > $out"]; }) ${N}; }`,
    );
    const started = Date.now();
    const { stdout } = await run('nix-build', [file, '-A', 'all', '--no-out-link'], {
      env: nix.env,
      timeout: 1_200_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    t.log(`${N} builds with the hook, the node down: ${Date.now() - started} ms`);
    const built = stdout.split('\n').filter(Boolean);
    t.is(built.length, N);
    t.is((await readdir(paths.spool)).length, N, 'one spool file per build, the node down');

    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'helpers', 'spool-node.ts'), dir],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: nix.env,
      },
    );
    child.stdout.resume();
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    // Kill once the node has taken in part of the spool: on the spool's own change events.
    let left = N;
    await new Promise<void>((resolve, reject) => {
      const watcher = watch(paths.spool, async () => {
        left = (await readdir(paths.spool).catch(() => [])).length - 1;
        if (left <= N * 0.6 && left > 0) {
          watcher.close();
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => {
        watcher.close();
        reject(new Error('the node exited before it was killed'));
      });
    });
    t.is(await exited, 'SIGKILL');
    t.log(`killed the node with ${left} of ${N} spool files left`);
    t.true(left > 0 && left < N, `killed with ${left} file(s) left`);

    const node = startNode(dir, nix);
    await node.start();
    t.teardown(() => node.stop());
    await published(node);
    t.log('restarted node: spool drained and sequenced');
    const stored = (await entriesOf(node)).map((e) => parseEntry(e).storePath);
    t.is(stored.length, N, 'every build once');
    t.deepEqual([...stored].sort(), [...built].sort());
    t.like(await verifyLog(node.ownLog), { size: N });
    t.deepEqual(await readdir(paths.spool), ['rejected']);
  },
);

nixTest(
  'the NixOS module installs exactly the hook `trustix init --spool /var/lib/trustix-spool` writes',
  async (t) => {
    const module = await readFile(
      join(import.meta.dirname, '..', 'docs', 'deploy', 'nixos-module.nix'),
      'utf8',
    );
    const m = /postBuildHook = pkgs\.writeScript "trustix-post-build-hook" (''\n[\s\S]*?\n {2}'');\n/.exec(
      module,
    );
    t.truthy(m, 'the module defines postBuildHook as an indented string');
    const { stdout } = await run('nix-instantiate', ['--eval', '--json', '-E', m![1]!], { timeout: 60_000 });
    t.is(JSON.parse(stdout), postBuildHookScript('/var/lib/trustix-spool'));
  },
);
