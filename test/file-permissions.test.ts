/**
 * Files that can change what the node runs or trusts are refused, like sshd's StrictModes, when another
 * user could change them: the data directory, its secret keys, the config file and a script decider.
 * The refusal names the file and the fix. (The tests run as root: a file owned by uid 65534 is foreign.)
 */
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { ConfigError, loadConfig } from '../node/config/config.ts';
import { InsecurePermissionsError } from '../node/errors.ts';
import { dataDir, initDataDir, loadKeys } from '../node/store/data-dir.ts';
import { ScriptDecider } from '../node/vote/script-decider.ts';
import { tempDir } from './helpers/log-fixture.ts';

const NOBODY = 65_534;

async function scratch(t: { teardown(f: () => Promise<void>): void }): Promise<string> {
  const dir = await tempDir('trustix-perms-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a data directory writable by others is refused by init and by loadKeys, naming it and the fix', async (t) => {
  const dir = join(await scratch(t), 'data');
  await mkdir(dir);
  await chmod(dir, 0o777);
  const err = await t.throwsAsync(initDataDir(dir), { instanceOf: InsecurePermissionsError });
  t.is(err?.code, 'ERR_INSECURE_PERMISSIONS');
  t.regex(
    err!.message,
    new RegExp(`^${dir}: the data directory is writable by group or others \\(mode 0777\\)`),
  );
  t.regex(err!.message, new RegExp(`Fix: chmod go-w ${dir}$`));

  await chmod(dir, 0o700);
  await initDataDir(dir);
  await chmod(dir, 0o775);
  await t.throwsAsync(loadKeys(dir), { instanceOf: InsecurePermissionsError, message: /mode 0775/ });
  await chmod(dir, 0o755); // readable by others is fine for the directory: its secrets are 0600
  await t.notThrowsAsync(loadKeys(dir));
});

test('a secret key readable by others or owned by another user is refused, naming the file and the fix', async (t) => {
  const dir = join(await scratch(t), 'data');
  await initDataDir(dir);
  const { logSecret, cacheSecret } = dataDir(dir);
  await chmod(logSecret, 0o644);
  await t.throwsAsync(loadKeys(dir), {
    instanceOf: InsecurePermissionsError,
    message: `${logSecret}: the log secret key is readable or writable by group or others (mode 0644); another local user could change what the node runs or trusts. Fix: chmod go-rwx ${logSecret}`,
  });
  await chmod(logSecret, 0o600);
  await chown(cacheSecret, NOBODY, NOBODY);
  await t.throwsAsync(loadKeys(dir), {
    instanceOf: InsecurePermissionsError,
    message: new RegExp(`^${cacheSecret}: the cache secret key is owned by uid ${NOBODY}, .* Fix: chown 0 `),
  });
  await chown(cacheSecret, 0, 0);
  await t.notThrowsAsync(loadKeys(dir));
});

test('a config file writable by others or owned by another user is refused', async (t) => {
  const dir = await scratch(t);
  const file = join(dir, 'config.json');
  await writeFile(file, '{}');
  await chmod(file, 0o666);
  await t.throwsAsync(loadConfig(file), {
    instanceOf: InsecurePermissionsError,
    message: new RegExp(
      `^${file}: the config file is writable by group or others \\(mode 0666\\).*chmod go-w`,
    ),
  });
  await chmod(file, 0o644);
  await chown(file, NOBODY, NOBODY);
  await t.throwsAsync(loadConfig(file), {
    instanceOf: InsecurePermissionsError,
    message: /owned by uid 65534/,
  });
  await chown(file, 0, 0);
  t.deepEqual(await loadConfig(file), { file });
});

test('a script decider writable by others is refused in the config (file and line) and at start', async (t) => {
  const dir = await scratch(t);
  const script = join(dir, 'decide.mjs');
  await writeFile(script, 'export function decide() { return null; }\n');
  await chmod(script, 0o666);
  const file = join(dir, 'config.json');
  await writeFile(file, '{\n  "vote": ["script ./decide.mjs"]\n}\n');
  const err = await t.throwsAsync(loadConfig(file), { instanceOf: ConfigError });
  t.regex(err!.message, new RegExp(`^${file}:2: vote\\[0\\]: ${script}: the decider script is writable`));
  t.regex(err!.message, /Fix: chmod go-w/);

  const decider = new ScriptDecider(script);
  t.teardown(() => decider.close());
  await t.throwsAsync(decider.start(), { instanceOf: InsecurePermissionsError, message: /decider script/ });
  await chmod(script, 0o644);
  t.like(await loadConfig(file), { vote: [{ kind: 'script', module: script }] });
  await t.notThrowsAsync(decider.start());
});
