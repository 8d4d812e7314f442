/**
 * The compiled build (scripts/build.mjs) that cli/bin/trustix.js runs: fresh after a build, and its
 * modules behave as their sources do where locations matter (assets, the post-build hook's path).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { DASHBOARD_DIR } from '../node/routes/dashboard.ts';
import { VERSION } from '../node/runtime/version.ts';
import { build, compiledUrl, DIST, isFresh, ROOT } from '../scripts/build.mjs';

const run = promisify(execFile);

test.serial('a build is fresh, and its modules keep their sources’ locations', async (t) => {
  await build();
  t.true(isFresh());
  const url = compiledUrl('node/routes/dashboard.ts');
  t.is(url, `file://${join(DIST, 'node', 'routes', 'dashboard.js')}`);
  const compiled = (await import(url!)) as { DASHBOARD_DIR: URL };
  t.is(compiled.DASHBOARD_DIR.href, DASHBOARD_DIR.href);
  // The package's doors ("exports") are the compiled modules.
  t.is(import.meta.resolve('trustix'), `file://${join(DIST, 'node', 'index.js')}`);
  t.is(import.meta.resolve('trustix/client'), `file://${join(DIST, 'node', 'client.js')}`);
  t.is(import.meta.resolve('trustix/protocol'), `file://${join(DIST, 'protocol', 'index.js')}`);
  t.is(((await import('trustix/client')) as { VERSION: string }).VERSION, VERSION);
});

test.serial('the compiled command runs', async (t) => {
  if (!isFresh()) await build();
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const main = fileURLToPath(compiledUrl('cli/main.ts')!);
  t.is(main, join(DIST, 'cli', 'main.js'));
  // From a directory with another package.json: the version is still Trustix's own.
  const elsewhere = await mkdtemp(join(tmpdir(), 'trustix-version-'));
  t.teardown(() => rm(elsewhere, { recursive: true, force: true }));
  await writeFile(join(elsewhere, 'package.json'), '{"name": "other", "version": "9.9.9"}');
  const script = `import { main } from ${JSON.stringify(compiledUrl('cli/main.ts'))};
process.exitCode = await main(['--version'], { stdout: process.stdout, stderr: process.stderr, env: process.env });`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: elsewhere });
  t.is(stdout.trim(), version);
  // And the binary, which runs the build while it is fresh.
  const bin = await run(process.execPath, [join(ROOT, 'cli', 'bin', 'trustix.js'), '--version'], {
    cwd: elsewhere,
  });
  t.is(bin.stdout.trim(), version);
});

test.serial(
  'a source whose mtime changed but not its content (a Nix store sets every mtime to 1 s) keeps the build fresh; other content does not',
  async (t) => {
    if (!isFresh()) await build();
    const source = join(ROOT, 'protocol', 'constants.ts');
    const { atime, mtime } = await stat(source);
    t.teardown(() => utimes(source, atime, mtime));
    await utimes(source, 1, 1);
    t.true(isFresh(), 'same content, other mtime');
    // The manifest says the source had other content: stale.
    const manifestFile = join(DIST, 'build.json');
    const manifest = await readFile(manifestFile, 'utf8');
    t.teardown(() => writeFile(manifestFile, manifest));
    const parsed = JSON.parse(manifest) as { sources: Record<string, { sha256: string }> };
    parsed.sources['protocol/constants.ts']!.sha256 = '0'.repeat(64);
    await writeFile(manifestFile, JSON.stringify(parsed));
    t.false(isFresh(), 'other content under another mtime');
  },
);
