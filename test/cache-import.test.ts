import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { SubmitServer } from '../node/control/submit-server.ts';
import { BinaryCacheError } from '../node/errors.ts';
import { SubmissionQueue } from '../node/own-log/submission-queue.ts';
import { dataDir } from '../node/store/data-dir.ts';
import { openDatabase } from '../node/store/database.ts';
import { type CacheImportOptions, importCache } from '../node/upstream/cache-import.ts';
import type { RefusalReason } from '../node/upstream/import-progress.ts';
import { MAX_NARINFO_BYTES } from '../protocol/constants.ts';
import { parseNixPublicKey } from '../protocol/keys.ts';
import { serveCache } from './helpers/cache-server.ts';
import { runCli } from './helpers/cli.ts';
import { NIX_FIXTURES, VECTORS } from './helpers/nix-fixtures.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CACHE_DIR = join(NIX_FIXTURES, 'binary-cache-xz');
const KEY1 = parseNixPublicKey(VECTORS.keys['trustix-test-1']!.public);
const KEY2 = parseNixPublicKey(VECTORS.keys['trustix-test-2']!.public);
const FINGERPRINTS = VECTORS.vectors.map((v) => v.fingerprint).sort();
// Generous by default, so a loaded CI machine does not turn a slow answer into a false failure;
// the test about a hanging server sets its own short timeout.
const PATIENT = { timeoutMs: 10_000, retries: 0, backoffMs: 1 };
/**
 * One try per request, bounded: long enough that answered requests never reach the bound on a loaded
 * machine (at 500 ms they did, beside the rest of the suite and two CPU burners); only a hanging one does.
 */
const ONE_TRY = { timeoutMs: 3_000, retries: 0, backoffMs: 1 };
const [A, B, C, D, E] = [...VECTORS.vectors].sort((x, y) => (x.hashPart < y.hashPart ? -1 : 1));

async function tempDir(t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An in-memory sink recording every call. */
function memorySink(failOnCall?: number) {
  const calls: string[][] = [];
  let n = 0;
  const sink = async (entries: string[]) => {
    if (++n === failOnCall) throw new Error('sink unavailable');
    calls.push([...entries]);
  };
  return { sink, calls, all: () => calls.flat() };
}

function run(url: string, sink: (e: string[]) => Promise<void>, extra: Partial<CacheImportOptions> = {}) {
  return importCache({ url, keys: [KEY1], sink, cache: PATIENT, ...extra });
}

/** A copy of the cache with: A's NarHash changed, B's signature altered, C unsigned, D malformed, E intact, plus E's narinfo served under another hash part. */
async function tamperedCache(t: ExecutionContext): Promise<{ dir: string; wrongName: string }> {
  const dir = await tempDir(t, 'trustix-tampered-');
  await cp(CACHE_DIR, dir, { recursive: true });
  const edit = async (hashPart: string, fn: (text: string) => string) => {
    const file = join(dir, `${hashPart}.narinfo`);
    await writeFile(file, fn(await readFile(file, 'utf8')));
  };
  await edit(A!.hashPart, (s) => s.replace(A!.narHash, B!.narHash));
  await edit(B!.hashPart, (s) =>
    s.replace(/(Sig: trustix-test-1:)(.)/, (_m, p, c) => p + (c === 'A' ? 'B' : 'A')),
  );
  await edit(C!.hashPart, (s) => s.replace(/^Sig: .*\n/m, ''));
  await edit(D!.hashPart, (s) => s.replace(/^NarSize: .*\n/m, ''));
  const wrongName = '0'.repeat(32);
  await cp(join(dir, `${E!.hashPart}.narinfo`), join(dir, `${wrongName}.narinfo`));
  return { dir, wrongName };
}

test('http import with the right key hands exactly the 5 fingerprints to the sink', async (t) => {
  const server = await serveCache(CACHE_DIR);
  t.teardown(() => server.close());
  const data = await tempDir(t, 'trustix-import-');
  const { sink, all } = memorySink();
  const summary = await run(server.url, sink, { dataDir: data });
  t.deepEqual(all().sort(), FINGERPRINTS);
  t.like(summary, { listed: 5, imported: 5, skipped: 0, refused: 0, resumed: false, storeDir: '/nix/store' });
  t.deepEqual(summary.refusals, []);
  t.deepEqual(await readdir(join(data, 'imports')).catch(() => []), [], 'state dropped once complete');
});

test('file:// import gives the same fingerprints', async (t) => {
  const { sink, all } = memorySink();
  const summary = await run(pathToFileURL(CACHE_DIR).href, sink);
  t.deepEqual(all().sort(), FINGERPRINTS);
  t.like(summary, { listed: 5, imported: 5, refused: 0 });
});

test('tampered, unsigned, malformed and misplaced narinfos are refused one by one; the good one is imported', async (t) => {
  const { dir, wrongName } = await tamperedCache(t);
  const server = await serveCache(dir, { index: 'json' });
  t.teardown(() => server.close());
  const { sink, all } = memorySink();
  const summary = await run(server.url, sink);
  t.deepEqual(all(), [E!.fingerprint]);
  const reasons = Object.fromEntries(summary.refusals.map((r) => [r.hashPart, r.reason]));
  t.deepEqual(reasons, {
    [A!.hashPart]: 'bad-signature',
    [B!.hashPart]: 'bad-signature',
    [C!.hashPart]: 'unsigned',
    [D!.hashPart]: 'malformed',
    [wrongName]: 'wrong-path',
  } satisfies Record<string, RefusalReason>);
  t.like(summary, { listed: 6, imported: 1, refused: 5 });
  t.deepEqual(summary.refusedByReason, { 'bad-signature': 2, unsigned: 1, malformed: 1, 'wrong-path': 1 });
  const d = summary.refusals.find((r) => r.hashPart === D!.hashPart)!;
  t.regex(d.message, /missing NarSize/);
  t.is(summary.refusals.find((r) => r.hashPart === A!.hashPart)!.storePath, A!.storePath);
});

test('with a key that did not sign the cache every narinfo is refused', async (t) => {
  const { sink, all } = memorySink();
  const url = pathToFileURL(CACHE_DIR).href;
  const other = await run(url, sink, { keys: [KEY2] });
  t.like(other, { imported: 0, refused: 5, refusedByReason: { 'untrusted-key': 5 } });
  t.regex(other.refusals[0]!.message, /signed only by trustix-test-1/);
  // Right name, wrong public key: the signatures are checked and fail.
  const impostor = await run(url, sink, { keys: [{ name: KEY1.name, publicKey: KEY2.publicKey }] });
  t.like(impostor, { imported: 0, refused: 5, refusedByReason: { 'bad-signature': 5 } });
  t.deepEqual(all(), []);
  const either = await run(url, sink, { keys: [KEY2, KEY1] });
  t.like(either, { imported: 5, refused: 0 });
});

test('an import stopped by a failing sink resumes after the last recorded page without resubmitting it', async (t) => {
  const server = await serveCache(CACHE_DIR);
  t.teardown(() => server.close());
  const data = await tempDir(t, 'trustix-import-');
  const { sink, calls, all } = memorySink(2);
  await t.throwsAsync(run(server.url, sink, { dataDir: data, pageSize: 2, concurrency: 2 }), {
    message: 'sink unavailable',
  });
  t.deepEqual(calls, [[A!.fingerprint, B!.fingerprint]]);
  t.is((await readdir(join(data, 'imports'))).length, 1);
  const before = server.requests.length;
  const summary = await run(server.url, sink, { dataDir: data, pageSize: 2 });
  t.like(summary, { listed: 5, imported: 3, skipped: 2, refused: 0, resumed: true });
  t.deepEqual(
    all(),
    [A, B, C, D, E].map((v) => v!.fingerprint),
  );
  const fetched = server.requests.slice(before).filter((p) => p.endsWith('.narinfo'));
  t.deepEqual(fetched.sort(), [C, D, E].map((v) => `/${v!.hashPart}.narinfo`).sort());
  t.deepEqual(await readdir(join(data, 'imports')), []);
});

test('an aborted import resumes; refusals of the first run still count in the final summary', async (t) => {
  const { dir } = await tamperedCache(t);
  const data = await tempDir(t, 'trustix-import-');
  const url = pathToFileURL(dir).href;
  const abort = new AbortController();
  const { sink, all } = memorySink();
  const first = run(url, sink, {
    dataDir: data,
    pageSize: 2,
    signal: abort.signal,
    onProgress: (p) => p.kind === 'page' && abort.abort(new Error('stop')),
  });
  await t.throwsAsync(first, { message: 'stop' });
  const summary = await run(url, sink, { dataDir: data, pageSize: 2 });
  t.like(summary, { listed: 6, skipped: 2, imported: 1, refused: 5, resumed: true });
  t.is(new Set(summary.refusals.map((r) => r.hashPart)).size, 5);
  t.deepEqual(all(), [E!.fingerprint]);
});

test('saved progress is ignored with --restart or when the trusted keys change', async (t) => {
  const data = await tempDir(t, 'trustix-import-');
  const url = pathToFileURL(CACHE_DIR).href;
  const stop = async (extra: Partial<CacheImportOptions>) => {
    const { sink } = memorySink(2);
    await t.throwsAsync(run(url, sink, { dataDir: data, pageSize: 2, ...extra }));
  };
  await stop({});
  const restarted = memorySink();
  t.like(await run(url, restarted.sink, { dataDir: data, restart: true }), { skipped: 0, imported: 5 });
  await stop({});
  const rekeyed = memorySink();
  t.like(await run(url, rekeyed.sink, { dataDir: data, keys: [KEY1, KEY2] }), { skipped: 0, resumed: false });
  t.is(rekeyed.all().length, 5);
});

test('a paths list imports what it names; paths the cache lacks are refused as not-found', async (t) => {
  const server = await serveCache(CACHE_DIR, { index: 'none' });
  t.teardown(() => server.close());
  const { sink, all } = memorySink();
  const missing = '1'.repeat(32);
  const paths = `${A!.storePath}\n${E!.hashPart}\n${missing}\n`;
  const summary = await run(server.url, sink, { paths });
  t.deepEqual(all(), [A!.fingerprint, E!.fingerprint]);
  t.like(summary, { listed: 3, imported: 2, refused: 1, refusedByReason: { 'not-found': 1 } });
  t.false(server.requests.includes('/'), 'no listing fetched');
});

test('an oversize narinfo is refused as malformed; a hanging one stops the import within the timeout', async (t) => {
  const server = await serveCache(CACHE_DIR, {
    override: (req, res) => {
      if (req.url === `/${B!.hashPart}.narinfo`) {
        res.writeHead(200).end(Buffer.alloc(MAX_NARINFO_BYTES + 1, 'x'));
        return true;
      }
      return req.url === `/${D!.hashPart}.narinfo`; // never answered
    },
  });
  t.teardown(() => server.close());
  const data = await tempDir(t, 'trustix-import-');
  const { sink, all } = memorySink();
  const started = Date.now();
  await t.throwsAsync(run(server.url, sink, { dataDir: data, pageSize: 3, concurrency: 1, cache: ONE_TRY }), {
    instanceOf: BinaryCacheError,
    message: /within 3000 ms/,
  });
  t.true(Date.now() - started < 30_000); // the hanging request's bound, with room for a loaded machine
  t.deepEqual(all(), [A!.fingerprint, C!.fingerprint]);
  const state = JSON.parse(
    await readFile(join(data, 'imports', (await readdir(join(data, 'imports')))[0]!), 'utf8'),
  );
  t.is(state.refusals[0].reason, 'malformed');
  t.regex(state.refusals[0].message, /exceeds the limit/);
});

test('a cache that is not there fails with a BinaryCacheError and sinks nothing', async (t) => {
  const { sink, all } = memorySink();
  const server = await serveCache(CACHE_DIR);
  await server.close();
  await t.throwsAsync(run(server.url, sink), { instanceOf: BinaryCacheError });
  t.deepEqual(all(), []);
});

/** The CLI in this process (test/helpers/cli.ts), from the repository's root. */
function cli(args: string[]) {
  return runCli(args, { cwd: ROOT });
}

/** A real node's submission path: LevelDB, durable queue, UNIX socket server, in a temp data dir. */
async function startNode(t: ExecutionContext): Promise<{ dir: string; queued: () => Promise<string[]> }> {
  const dir = await tempDir(t, 'trustix-node-');
  const paths = dataDir(dir);
  const db = await openDatabase(paths.db);
  const queue = await SubmissionQueue.open(db);
  const server = new SubmitServer({ queue }, { socketPath: paths.socket });
  await server.start();
  t.teardown(async () => {
    await server.stop();
    await db.close();
  });
  const queued = async () =>
    (await queue.pending(0, 1000))
      .flatMap((r) => r.submissions)
      .map((submission) => (submission.kind === 'entry' ? submission.entry : JSON.stringify(submission)));
  return { dir, queued };
}

test('CLI: import-cache queues the cache entries in a running node; a rerun queues them again (the log dedupes)', async (t) => {
  const node = await startNode(t);
  const server = await serveCache(CACHE_DIR);
  t.teardown(() => server.close());
  // The key as a file, the way `nix key convert-secret-to-public` leaves it.
  const args = ['import-cache', server.url, '--key', join(NIX_FIXTURES, 'keys', 'trustix-test-1.public')];
  const res = await cli([...args, '--data-dir', node.dir]);
  t.is(res.code, 0, res.stderr);
  t.regex(res.stdout, /imported 5, skipped 0 \(done earlier\), refused 0/);
  t.regex(res.stderr, /import-cache: 5\/5/);
  t.deepEqual((await node.queued()).sort(), FINGERPRINTS);
});

test('CLI: refusals give exit code 3 with per-entry reasons in --json; the good entries are queued', async (t) => {
  const node = await startNode(t);
  const { dir } = await tamperedCache(t);
  const res = await cli([
    'import-cache',
    pathToFileURL(dir).href,
    '--key',
    VECTORS.keys['trustix-test-1']!.public,
    '--json',
    '--data-dir',
    node.dir,
  ]);
  t.is(res.code, 3, res.stderr);
  const summary = JSON.parse(res.stdout);
  t.like(summary, { listed: 6, imported: 1, refused: 5 });
  t.is(summary.refusals.length, 5);
  for (const r of summary.refusals) t.true(typeof r.message === 'string' && r.message.length > 0);
  t.regex(res.stderr, /5 narinfo\(s\) refused/);
  t.deepEqual(await node.queued(), [E!.fingerprint]);
});

test('CLI: no running node is exit 1, a malformed key or missing paths file exit 2, an unreachable cache exit 1', async (t) => {
  const empty = await tempDir(t, 'trustix-none-');
  const key = VECTORS.keys['trustix-test-1']!.public;
  const url = pathToFileURL(CACHE_DIR).href;
  const noNode = await cli(['import-cache', url, '--key', key, '--data-dir', empty]);
  t.is(noNode.code, 1);
  t.regex(noNode.stderr, /no trustix node is running/);
  const badKey = await cli(['import-cache', url, '--key', 'nonsense', '--data-dir', empty]);
  t.is(badKey.code, 2, badKey.stderr);
  const noPaths = await cli([
    'import-cache',
    url,
    '--key',
    key,
    '--paths',
    join(empty, 'none'),
    '--data-dir',
    empty,
  ]);
  t.is(noPaths.code, 2, noPaths.stderr);
  t.regex(noPaths.stderr, /--paths/);
  const node = await startNode(t);
  const gone = await cli([
    'import-cache',
    'http://127.0.0.1:9/',
    '--key',
    key,
    '--timeout',
    '0.5',
    '--data-dir',
    node.dir,
  ]);
  t.is(gone.code, 1, gone.stderr);
  t.regex(gone.stderr, /binary cache http:\/\/127\.0\.0\.1:9\//);
  t.deepEqual(await node.queued(), []);
});
