/**
 * The spool without Nix: the strict spool-file parser, the sh hook on its own (it exits 0 and warns
 * whatever goes wrong), and the node's Spool on a real queue: well-formed files are queued and removed,
 * malformed ones set aside with their reason, files left while the node was down taken in at start.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { InsecurePermissionsError } from '../node/errors.ts';
import { postBuildHookScript, writePostBuildHook } from '../node/own-log/post-build-hook.ts';
import { Spool } from '../node/own-log/spool.ts';
import { formatSpoolFile, MAX_SPOOL_FILE_BYTES, parseSpoolFile } from '../node/own-log/spool-file.ts';
import { SubmissionQueue } from '../node/own-log/submission-queue.ts';
import { openDatabase } from '../node/store/database.ts';
import { MalformedError, TooLargeError } from '../protocol/errors.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/log-fixture.ts';

const run = promisify(execFile);
const DRV = '/nix/store/0c0i7h4ikz2yl9w5aglzfr3r5kgl3m1a-hello-2.12.drv';
const OUT = '/nix/store/1m4zyz5pmv3wq5qhl7q1rbzvxz4fp6la-hello-2.12';
const MAN = '/nix/store/2g9k0vzsvml4i1qiz8h7xcjpwnd9k8wq-hello-2.12-man';
const bytes = (text: string) => new TextEncoder().encode(text);

test('a spool file gives its output paths, or its derivation when OUT_PATHS is empty (Nix 2.8)', (t) => {
  t.deepEqual(parseSpoolFile(bytes(formatSpoolFile(DRV, ''))), [{ kind: 'drv', drvPath: DRV }]);
  t.deepEqual(parseSpoolFile(bytes(formatSpoolFile(DRV, `${OUT} ${MAN}`))), [
    { kind: 'path', path: OUT },
    { kind: 'path', path: MAN },
  ]);
  t.deepEqual(parseSpoolFile(bytes(formatSpoolFile('', OUT))), [{ kind: 'path', path: OUT }]);
});

test('the spool-file parser refuses every other spelling, naming the fault', (t) => {
  const bad: [string, RegExp][] = [
    ['', /three lines/],
    [formatSpoolFile(DRV, '').slice(0, -1), /three lines/],
    [`${formatSpoolFile(DRV, '')}extra\n`, /three lines/],
    [formatSpoolFile(DRV, '').replace('spool 1', 'spool 2'), /first line/],
    [formatSpoolFile(DRV, '').replace('DRV_PATH', 'DRV'), /DRV_PATH=/],
    [formatSpoolFile('', ''), /both empty/],
    [formatSpoolFile(OUT, ''), /not a \.drv/],
    [formatSpoolFile('/tmp/x.drv', ''), /not in \/nix\/store/],
    [formatSpoolFile(DRV, `${OUT}  ${MAN}`), /store path|twice/],
    [formatSpoolFile(DRV, `${OUT} ${OUT}`), /twice/],
    [formatSpoolFile(DRV, '').replace('\n', '\r\n'), /printable ASCII/],
    [formatSpoolFile(`${DRV}\u00e9`, ''), /printable ASCII/],
  ];
  for (const [text, message] of bad) {
    const err = t.throws(
      () => parseSpoolFile(bytes(text)),
      { instanceOf: MalformedError },
      JSON.stringify(text),
    );
    t.regex(err?.message ?? '', message);
  }
  t.throws(() => parseSpoolFile(new Uint8Array(MAX_SPOOL_FILE_BYTES + 1)), { instanceOf: TooLargeError });
});

test('the hook writes one spool file per build, and exits 0 with a warning when it cannot', async (t) => {
  const dir = await tempDir('trustix-hook-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const spool = join(dir, "spool with 'quotes' $x");
  const hook = join(dir, 'post-build-hook');
  t.true(await writePostBuildHook(hook, spool));
  t.false(await writePostBuildHook(hook, spool), 'unchanged: not written again');
  t.is(await readFile(hook, 'utf8'), postBuildHookScript(spool));
  const runHook = (env: Record<string, string>) =>
    run(hook, [], { env: { PATH: process.env['PATH']!, ...env } });

  // No spool directory at all: the hook warns and succeeds.
  await rm(spool, { recursive: true });
  let out = await runHook({ DRV_PATH: DRV, OUT_PATHS: '' });
  t.regex(out.stderr, /cannot write to the spool .*spool with 'quotes' \$x: this build is not published/);
  await mkdir(spool);
  out = await runHook({ DRV_PATH: DRV, OUT_PATHS: `${OUT} ${MAN}` });
  t.is(out.stderr, '');
  out = await runHook({ DRV_PATH: DRV, OUT_PATHS: '' });
  const files = (await readdir(spool)).sort();
  t.is(files.length, 2);
  t.true(files.every((f) => f.startsWith('0c0i7h4ikz2yl9w5aglzfr3r5kgl3m1a-hello-2.12.drv.')));
  const parsed = await Promise.all(files.map(async (f) => parseSpoolFile(await readFile(join(spool, f)))));
  t.deepEqual(parsed.flat().length, 3);
  t.deepEqual(await readdir(`${spool}.tmp`), [], 'no temporary file left behind');

  t.regex((await runHook({})).stderr, /neither DRV_PATH nor OUT_PATHS is set/);
  t.regex((await runHook({ DRV_PATH: `${DRV}\nOUT_PATHS=/evil` })).stderr, /newline/);
  t.is((await readdir(spool)).length, 2);
});

async function spoolFixture(t: import('ava').ExecutionContext) {
  const dir = await tempDir('trustix-spool-');
  const db = await openDatabase(join(dir, 'db'));
  const queue = await SubmissionQueue.open(db);
  const spoolDir = join(dir, 'spool');
  t.teardown(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, db, queue, spoolDir };
}

test('the spool takes in what was left while it was down, queues it durably and removes the files', async (t) => {
  const { queue, spoolDir } = await spoolFixture(t);
  await mkdir(spoolDir);
  await writeFile(join(spoolDir, 'a.drv.1'), formatSpoolFile(DRV, ''));
  await writeFile(join(spoolDir, 'b.drv.2'), formatSpoolFile(DRV, `${OUT} ${MAN}`));
  // One record for both files (one synced append), taken at start.
  const spool = new Spool({ queue }, { dir: spoolDir, maxFilesPerRecord: 10 });
  await spool.start();
  t.teardown(() => spool.stop());
  await spool.drained();
  t.deepEqual(await readdir(spoolDir), ['rejected']);
  t.is(spool.ingested, 2);
  const records = await queue.pending(0, 100);
  t.is(records.length, 1);
  t.deepEqual(records[0]!.submissions, [
    { kind: 'drv', drvPath: DRV },
    { kind: 'path', path: OUT },
    { kind: 'path', path: MAN },
  ]);

  // While it runs: a new file is noticed (watch or scan) without being asked.
  const seen = queue.waitForWork();
  await writeFile(join(spoolDir, 'c.tmp'), formatSpoolFile('', OUT));
  await seen;
  await spool.drained();
  t.deepEqual(await readdir(spoolDir), ['rejected']);
  t.is((await queue.pending(0, 100)).length, 2);
});

test('a malformed spool file is set aside in rejected/ with its reason, and the others go on', async (t) => {
  const { queue, spoolDir, dir } = await spoolFixture(t);
  await mkdir(spoolDir);
  await writeFile(join(spoolDir, 'good.1'), formatSpoolFile(DRV, ''));
  await writeFile(join(spoolDir, 'bad-header.2'), formatSpoolFile(DRV, '').replace('spool 1', 'spool 9'));
  await writeFile(join(spoolDir, 'too-big.3'), Buffer.alloc(MAX_SPOOL_FILE_BYTES + 1, 0x41));
  await writeFile(join(dir, 'target'), formatSpoolFile(DRV, ''));
  await symlink(join(dir, 'target'), join(spoolDir, 'link.4'));
  await mkdir(join(spoolDir, 'a-directory.5'));
  const spool = new Spool({ queue }, { dir: spoolDir });
  await spool.start();
  t.teardown(() => spool.stop());
  await spool.drained();

  t.deepEqual(await readdir(spoolDir), ['rejected']);
  t.is(spool.ingested, 1);
  const reasons = Object.fromEntries(spool.rejections.map((r) => [r.file.split('/').pop(), r.reason]));
  t.like(reasons, {
    'bad-header.2': 'malformed spool file: first line is not "trustix-spool 1"',
    'too-big.3': `malformed spool file: ${MAX_SPOOL_FILE_BYTES + 1} bytes exceeds the limit of ${MAX_SPOOL_FILE_BYTES}`,
    'link.4': 'malformed spool file: a symbolic link',
    'a-directory.5': 'malformed spool file: not a regular file',
  });
  t.is(Object.keys(reasons).length, 4);
  const aside = await readdir(join(spoolDir, 'rejected'));
  t.true(aside.includes('bad-header.2') && aside.includes('bad-header.2.reason'));
  t.is(
    await readFile(join(spoolDir, 'rejected', 'bad-header.2.reason'), 'utf8'),
    'malformed spool file: first line is not "trustix-spool 1"\n',
  );
  t.is(
    await readFile(join(dir, 'target'), 'utf8'),
    formatSpoolFile(DRV, ''),
    'a symlink target is untouched',
  );
  t.deepEqual(
    (await queue.pending(0, 100)).flatMap((r) => r.submissions),
    [{ kind: 'drv', drvPath: DRV }],
  );
});

test('`trustix init --spool DIR` creates the spool and writes the hook that names it', async (t) => {
  const dir = await tempDir('trustix-init-spool-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const data = join(dir, 'data');
  const spool = join(dir, 'elsewhere', 'spool');
  const cli = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix.js');
  const { stdout } = await run(
    process.execPath,
    [cli, 'init', '--data-dir', data, '--spool', spool, '--json'],
    {
      timeout: 120_000,
    },
  );
  const out = JSON.parse(stdout) as { spool: string; postBuildHook: string };
  t.is(out.spool, spool);
  t.is(out.postBuildHook, join(data, 'post-build-hook'));
  t.is(await readFile(out.postBuildHook, 'utf8'), postBuildHookScript(spool));
  t.deepEqual(await readdir(spool), []);
  // The hook runs as is: Nix starts it with no arguments.
  await run(out.postBuildHook, [], { env: { PATH: process.env['PATH']!, DRV_PATH: DRV } });
  t.is((await readdir(spool)).length, 1);
});

test('the spool is refused when other users could write to it: what it holds is published', async (t) => {
  const { queue, spoolDir } = await spoolFixture(t);
  await mkdir(spoolDir, { mode: 0o700 });
  await chmod(spoolDir, 0o773);
  await writeFile(join(spoolDir, 'planted.1'), formatSpoolFile(DRV, ''));
  const spool = new Spool({ queue }, { dir: spoolDir });
  t.teardown(() => spool.stop());
  await t.throwsAsync(spool.start(), {
    instanceOf: InsecurePermissionsError,
    message: new RegExp(`^${spoolDir}: the spool is writable by group or others \\(mode 0773\\).*chmod go-w`),
  });
  t.deepEqual(await queue.pending(0, 10), []);
  await chmod(spoolDir, 0o700);
  await spool.start();
  await spool.drained();
  t.is(spool.ingested, 1);
});

test('"spool" in the config file: init writes the hook for it, config show (what start runs with) has it, --spool wins', async (t) => {
  const dir = await tempDir('trustix-config-spool-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const data = join(dir, 'data');
  await mkdir(data, { mode: 0o700 });
  await writeFile(join(data, 'config.json'), '{\n  // beside the data directory\n  "spool": "../spool"\n}\n');
  const spool = join(dir, 'spool');
  const init = await runCli(['init', '--data-dir', data, '--json']);
  t.is(init.code, 0, init.stderr);
  t.is(JSON.parse(init.stdout).spool, spool);
  t.is(await readFile(join(data, 'post-build-hook'), 'utf8'), postBuildHookScript(spool));
  t.deepEqual(await readdir(spool), []);
  const shown = await runCli(['config', 'show', '--json', '--data-dir', data]);
  t.is(JSON.parse(shown.stdout).spool, spool);
  const flag = await runCli(['config', 'show', '--json', '--data-dir', data, '--spool', 'other'], {
    cwd: dir,
  });
  t.is(JSON.parse(flag.stdout).spool, join(dir, 'other'));
  // Another user could add builds to it: init refuses, naming the file's line.
  await chmod(spool, 0o777);
  const refused = await runCli(['init', '--data-dir', data]);
  t.is(refused.code, 2);
  t.regex(
    refused.stderr,
    new RegExp(`config\\.json:3: spool: ${spool}: the spool is writable by group or others`),
  );
});
