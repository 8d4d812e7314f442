/**
 * The data directory's keys: a replaced log.secret is refused at start with the way to recover, and a
 * missing or corrupt key file is an error naming the file and the cause.
 */
import { execFile } from 'node:child_process';
import { rm, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { TrustixNode } from '../node/assembly/trustix-node.ts';
import { HttpListenError, KeyFileError, OwnLogKeyError } from '../node/errors.ts';
import { dataDir, initDataDir, loadKeys } from '../node/store/data-dir.ts';
import { formatNixPublicKey, formatNixSecretKey, generateNixSecretKey } from '../protocol/keys.ts';
import { tempDir } from './helpers/log-fixture.ts';

async function scratch(t: { teardown(f: () => Promise<void>): void }): Promise<string> {
  const dir = await tempDir('trustix-data-dir-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'data');
}

/** Starts and stops a node on `dir` (no network, no HTTP): what `trustix start` does to the store. */
async function startStop(dir: string): Promise<void> {
  const node = new TrustixNode({ dataDir: dir, http: false, p2p: false, memory: false });
  await node.start();
  await node.stop();
}

test('a replaced log.secret is refused at start, naming both logs and how to recover', async (t) => {
  const dir = await scratch(t);
  const paths = dataDir(dir);
  const original = await initDataDir(dir, { name: 'mercury-1' });
  await startStop(dir);

  // Replaced (log.public left stale): the node must not start a second log in the same store.
  const other = generateNixSecretKey('mercury-2');
  await writeFile(paths.logSecret, formatNixSecretKey(other), { mode: 0o600 });
  const node = new TrustixNode({ dataDir: dir, http: false, p2p: false, memory: false });
  const err = await t.throwsAsync(node.start(), { instanceOf: OwnLogKeyError });
  t.is(err?.code, 'ERR_OWN_LOG_KEY');
  t.true(err!.message.startsWith(`${paths.logSecret} (key mercury-2, log ID `));
  t.regex(err!.message, new RegExp(`log ID ${original.log.logId}`));
  t.regex(err!.message, /put the original log\.secret back/);
  t.regex(err!.message, /trustix init --key .* --data-dir NEW_DIR/);

  // log.public replaced as well: the store still knows which key its log was started with.
  await writeFile(paths.logPublic, formatNixPublicKey(other));
  await t.throwsAsync(startStop(dir), { instanceOf: OwnLogKeyError, message: /started with another key/ });

  // The original key back: the node starts, on its old log.
  await writeFile(paths.logSecret, formatNixSecretKey(original.logSecret), { mode: 0o600 });
  await writeFile(paths.logPublic, formatNixPublicKey(original.logSecret));
  await t.notThrowsAsync(startStop(dir));
});

test('a corrupt log.secret or cache.secret is an error naming the file and the cause', async (t) => {
  const dir = await scratch(t);
  const paths = dataDir(dir);
  await initDataDir(dir);
  await writeFile(paths.cacheSecret, 'not a key\n');
  await t.throwsAsync(loadKeys(dir), {
    instanceOf: KeyFileError,
    message: new RegExp(
      `^${paths.cacheSecret}: the cache key is corrupt \\(malformed nix secret key: .*restore it`,
    ),
  });
  await writeFile(paths.logSecret, 'mercury-1:AAAA');
  const err = await t.throwsAsync(startStop(dir), { instanceOf: KeyFileError });
  t.is(err?.code, 'ERR_KEY_FILE');
  t.regex(err!.message, new RegExp(`^${paths.logSecret}: the log key is corrupt`));
});

test('a missing log.secret beside a node’s data is refused by init (no new log), naming the file', async (t) => {
  const dir = await scratch(t);
  const paths = dataDir(dir);
  await initDataDir(dir);
  await startStop(dir);
  await unlink(paths.logSecret);
  const err = await t.throwsAsync(initDataDir(dir), { instanceOf: KeyFileError });
  t.regex(err!.message, new RegExp(`^${paths.logSecret}: missing, but ${dir} holds a node's data`));
  t.regex(err!.message, /Restore log\.secret from your backup/);
  await t.throwsAsync(loadKeys(dir), { instanceOf: KeyFileError, message: /missing: .*run 'trustix init/ });
});

const CLI = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix.js');

test('a read-only data directory is refused by start, naming it and the cause', async (t) => {
  const dir = await scratch(t);
  await initDataDir(dir);
  // A read-only bind mount of the directory, in a mount namespace of this test only (gone with it).
  const script = `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" "$3" start --data-dir "$1" --http 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 --bootstrap /ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN`;
  const err = await t.throwsAsync<Error & { code: number; stderr: string }>(
    promisify(execFile)('unshare', ['-m', 'sh', '-c', script, 'sh', dir, process.execPath, CLI], {
      timeout: 60_000,
    }),
  );
  t.is(err?.code, 1, err?.stderr);
  t.is(
    err?.stderr.trim(),
    `trustix: ${dir}: the data directory is on a read-only file system; the node writes its store, queue and socket there. Remount it read-write or choose another --data-dir`,
  );
});

test('a busy HTTP port is an error naming the address and the fix', async (t) => {
  const dir = await scratch(t);
  await initDataDir(dir);
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => busy.close(() => resolve())));
  const { port } = busy.address() as { port: number };
  const node = new TrustixNode({
    dataDir: dir,
    http: { host: '127.0.0.1', port },
    p2p: false,
    memory: false,
  });
  const err = await t.throwsAsync(node.start(), { instanceOf: HttpListenError });
  t.is(err?.code, 'ERR_HTTP_LISTEN');
  t.is(
    err?.message,
    `cannot serve HTTP on 127.0.0.1:${port}: the port is in use (another trustix node, or another program?); choose another with --http HOST:PORT (or "http" in the config file)`,
  );
});
