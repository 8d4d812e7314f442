// Verified sync of a followed log from real HTTP tile servers on 127.0.0.1: full and incremental sync,
// the mirrored copy verifies as the builder's would, bad sources are dropped, forks store nothing, and an
// interrupted sync resumes without fetching again what it staged.
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test, { type ExecutionContext } from 'ava';
import { InvalidLogEntryError, LogForkError, SyncFailedError } from '../node/errors.ts';
import { type Database, openDatabase } from '../node/store/database.ts';
import { entryBundleKey, logPrefix, syncStageKey } from '../node/store/layout.ts';
import { LogStore } from '../node/store/log-store.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import { LogSync, type LogSyncInit, type SyncProgress } from '../node/sync/log-sync.ts';
import type { VerifiedBundle } from '../node/sync/sync-stage.ts';
import type { SourceFailedEvent, TileSource } from '../node/sync/tile-source.ts';
import type { SignedCheckpoint } from '../protocol/checkpoint.ts';
import { parseEntry } from '../protocol/entry.ts';
import { decodeEntryBundle } from '../protocol/entry-bundle.ts';
import { verifyEvidence } from '../protocol/evidence.ts';
import { verifyInclusion } from '../protocol/inclusion-proof.ts';
import type { LogKey } from '../protocol/keys.ts';
import { leafHash } from '../protocol/merkle.ts';
import { parseStorePath } from '../protocol/store-path.ts';
import { type LogFixture, memoryLog, openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';
import { startTileServer, type Tamper, type TileServer, tampers } from './helpers/tile-servers.ts';

const utf8 = new TextEncoder();

interface Follower {
  db: Database;
  store: LogStore;
  reopen(): Promise<void>;
}

async function builder(t: ExecutionContext, entries: readonly string[], secret?: LogFixture['secret']) {
  const log = await openLogFixture(secret === undefined ? {} : { secret });
  t.teardown(() => log.destroy());
  for (let i = 0; i < entries.length; i += 1000) await log.append(entries.slice(i, i + 1000));
  return log;
}

async function follower(t: ExecutionContext, key: LogKey): Promise<Follower> {
  const dir = await tempDir('trustix-follower-');
  const f = { db: await openDatabase(join(dir, 'db')) } as Follower;
  f.store = await LogStore.open(f.db, key);
  f.reopen = async () => {
    await f.db.close();
    f.db = await openDatabase(join(dir, 'db'));
    f.store = await LogStore.open(f.db, key);
  };
  t.teardown(async () => {
    await f.db.close();
    await rm(dir, { recursive: true, force: true });
  });
  return f;
}

/** Servers of `log`, one per entry: honest (undefined) or misbehaving; `badTimeoutMs` for the misbehaving. */
async function servers(
  t: ExecutionContext,
  log: LogFixture,
  tamperers: (Tamper | undefined)[],
  badTimeoutMs?: number,
) {
  const out: TileServer[] = [];
  for (const tamper of tamperers) {
    const source = tamper !== undefined && badTimeoutMs !== undefined ? { timeoutMs: badTimeoutMs } : {};
    const s = await startTileServer(log.store, tamper === undefined ? { source } : { tamper, source });
    t.teardown(() => s.stop());
    out.push(s);
  }
  return out;
}

function sync(
  f: Follower,
  sources: TileServer[],
  init: LogSyncInit = {},
  stored?: (logId: string, bundles: readonly VerifiedBundle[]) => Promise<void>,
) {
  const s = new LogSync(
    { db: f.db, store: f.store, sources: sources.map((x) => x.source), ...(stored && { stored }) },
    init,
  );
  const failures: SourceFailedEvent[] = [];
  const progress: SyncProgress[] = [];
  s.addEventListener('source-failed', (e) => failures.push(e.detail));
  s.addEventListener('progress', (e) => progress.push(e.detail));
  return { sync: s, failures, progress };
}

/** Every key and value of the database, to show that nothing changed. */
async function snapshot(db: Database): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of db.iterator())
    out.push(`${Buffer.from(k).toString('hex')}=${Buffer.from(v).toString('hex')}`);
  return out;
}

/** The mirror holds exactly the builder's log: it reopens, verifies in full, proves and finds entries. */
async function assertMirrors(
  t: ExecutionContext,
  f: Follower,
  entries: readonly string[],
  cp: SignedCheckpoint,
) {
  await f.reopen();
  t.is(f.store.size, entries.length);
  t.deepEqual(f.store.checkpoint()?.note, cp.note);
  const report = await verifyLog(f.store);
  t.is(report.entries, entries.length);
  for (const index of [0, 1, 255, 256, Math.min(1234, entries.length - 2), entries.length - 1]) {
    const proof = await f.store.inclusionProof(index);
    t.notThrows(() =>
      verifyInclusion(index, cp.size, leafHash(utf8.encode(entries[index]!)), proof, cp.root),
    );
    const { hashPart } = parseStorePath(parseEntry(entries[index]!).storePath);
    const found = await f.store.entriesForPath(hashPart);
    t.deepEqual(
      found.map((e) => e.index),
      [index],
    );
    t.is(Buffer.from(found[0]!.entry).toString(), entries[index]!);
  }
}

const ENTRIES = [...syntheticEntries(4000, 7)];

/** What a sync told its `stored` hook: each step's new entries, in order, and whether it was stored. */
function tellings(f: Follower) {
  const told: { from: number; entries: string[]; stored: number }[] = [];
  const hook = async (logId: string, bundles: readonly VerifiedBundle[]) => {
    if (logId !== f.store.logId) throw new Error(`told of ${logId}`);
    const from = bundles[0]!.index * 256 + bundles[0]!.firstNew;
    const entries = bundles.flatMap((b) =>
      decodeEntryBundle(b.bundle, b.hashParts.length)
        .slice(b.firstNew)
        .map((e) => Buffer.from(e).toString()),
    );
    // Told after the write: the step is in the database (staged beyond the committed size).
    const last = bundles.at(-1)!;
    const stored = (await f.db.has(entryBundleKey(logPrefix(logId), last.index))) ? 1 : 0;
    told.push({ from, entries, stored });
  };
  return { told, hook };
}

// One builder log of 3,000 entries shared by the tests that only read it (built once: seconds matter).
let shared: Promise<LogFixture> | undefined;
function sharedBuilder(): Promise<LogFixture> {
  shared ??= (async () => {
    const log = await openLogFixture();
    for (let i = 0; i < 3000; i += 1000) await log.append(ENTRIES.slice(i, i + 1000));
    return log;
  })();
  return shared;
}
test.after.always(async () => (await shared)?.destroy());

test('a follower syncs 3,000 entries from three HTTP servers, then catches up incrementally', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 3000));
  const srv = await servers(t, log, [undefined, undefined, undefined]);
  const f = await follower(t, log.key);

  const tell = tellings(f);
  const first = sync(f, srv, {}, tell.hook);
  const result = await first.sync.run(log.store.checkpoint()!);
  t.like(result, { fromSize: 0, toSize: 3000, resumedFrom: 0 });
  // The `stored` hook was told of every step once it was written, in order, each entry once.
  t.deepEqual(
    tell.told.map((s) => s.from),
    [0],
    'one write: 12 bundles are fewer than a step of 16, all go in the commit',
  );
  t.deepEqual(
    tell.told.flatMap((s) => s.entries),
    ENTRIES.slice(0, 3000),
  );
  t.true(tell.told.every((s) => s.stored === 1));
  t.deepEqual(first.failures, []);
  // Requests were spread over all three servers.
  for (const s of srv) t.true(s.served.entries.length > 0, s.url);
  // Full level-0 tiles are computed from the bundles, never fetched: only the edge's partial one is.
  for (const s of srv)
    t.deepEqual(
      s.served.hash.filter((x) => x.kind === 'hash' && x.level === 0 && x.width === 256),
      [],
    );
  t.like(first.progress.at(-1), { verified: 3000, stored: 3000, total: 3000 });
  await assertMirrors(t, f, ENTRIES.slice(0, 3000), log.store.checkpoint()!);

  await log.append(ENTRIES.slice(3000, 3333));
  await log.append(ENTRIES.slice(3333));
  const fetchedBefore = srv.map((s) => s.served.entries.length);
  const tellAgain = tellings(f);
  const second = sync(f, srv, {}, tellAgain.hook);
  t.like(await second.sync.run(log.store.checkpoint()!.note), { fromSize: 3000, toSize: 4000 });
  // Told from the first new entry on, though the old partial bundle was fetched again.
  t.deepEqual(
    tellAgain.told.flatMap((s) => s.entries),
    ENTRIES.slice(3000),
  );
  t.is(tellAgain.told[0]!.from, 3000);
  // Only the bundles from the old partial one (3000 / 256 = 11) on were fetched again.
  const fetched = srv.flatMap((s, i) => s.served.entries.slice(fetchedBefore[i]).map((e) => e.index));
  t.deepEqual(
    [...new Set(fetched)].sort((a, b) => a - b),
    [11, 12, 13, 14, 15],
  );
  t.like(second.progress.at(-1), { verified: 1000, stored: 1000 });
  await assertMirrors(t, f, ENTRIES, log.store.checkpoint()!);

  // An old or current checkpoint is a no-op.
  t.like(await sync(f, srv).sync.run(log.store.checkpoint()!), { fromSize: 4000, toSize: 4000 });
});

for (const [name, tamper, reason] of [
  ['alters one byte of each entry bundle', tampers.bundleByte, 'invalid'],
  ['alters one byte of each level-0 hash tile', tampers.tileByte, 'invalid'],
  ['serves hash tiles of the wrong width', tampers.wrongWidth, 'malformed'],
  ['serves a forged entry with a level-0 tile to match', tampers.forged, 'invalid'],
  ['sends hash tiles larger than asked for', tampers.oversized, 'oversized'],
  ['is always busy (503)', tampers.busy, 'busy'],
  ['never answers for entry bundles', tampers.hang, 'timeout'],
] as const) {
  test(`a source that ${name} is dropped as ${reason}; the sync completes from the honest one`, async (t) => {
    const log = await sharedBuilder();
    const [bad, good] = await servers(t, log, [tamper, undefined], tamper === tampers.hang ? 300 : undefined);
    const f = await follower(t, log.key);
    // A busy source is paused and asked again `busyRetries` times; none here, so it is dropped at once.
    const { sync: s, failures } = sync(f, [bad!, good!], { busyRetries: 0 });
    t.like(await s.run(log.store.checkpoint()!), { toSize: 3000, failedSources: [bad!.url] });
    t.is(failures.length, 1);
    t.like(failures[0], { logId: log.key.logId, sourceId: bad!.url, reason });
    t.deepEqual(s.sources(), [good!.url]);
    await assertMirrors(t, f, ENTRIES.slice(0, 3000), log.store.checkpoint()!);
  });
}

test('a `stored` hook that fails does not fail the sync', async (t) => {
  const log = await sharedBuilder();
  const [srv] = await servers(t, log, [undefined]);
  const f = await follower(t, log.key);
  let calls = 0;
  const failing = async () => {
    calls++;
    throw new Error('statistics are down');
  };
  const { sync: s } = sync(f, [srv!], { stepBundles: 4, windowBundles: 8 }, failing);
  t.like(await s.run(log.store.checkpoint()!), { toSize: 3000 });
  t.is(calls, 3, 'told of each step (4 + 4 bundles) and the commit (4), each failing');
  await assertMirrors(t, f, ENTRIES.slice(0, 3000), log.store.checkpoint()!);
});

test('a source that holds a smaller tree serves what it has and is not blamed for the rest', async (t) => {
  const log = await sharedBuilder();
  // The same log at 2,000 entries: a mirror that is behind, consistent with the builder.
  const behind = await builder(t, ENTRIES.slice(0, 2000), log.secret);
  const [old, current] = [
    ...(await servers(t, behind, [undefined])),
    ...(await servers(t, log, [undefined])),
  ];
  const f = await follower(t, log.key);
  const { sync: s, failures } = sync(f, [old!, current!]);
  t.like(await s.run(log.store.checkpoint()!), { toSize: 3000, failedSources: [] });
  t.deepEqual(failures, []);
  // It was asked, and answered for full bundles of its tree (2,000 / 256: bundles 0-6).
  const answered = old!.served.entries.filter((e) => e.index < 7);
  t.true(answered.length > 0);
  await assertMirrors(t, f, ENTRIES.slice(0, 3000), log.store.checkpoint()!);
});

test('a log whose signed tree holds a non-entry fails with InvalidLogEntryError, blaming no source', async (t) => {
  // A log built by hand: the sequencer never writes a non-entry.
  const entries = ENTRIES.slice(0, 300).map((e) => utf8.encode(e));
  entries[5] = utf8.encode('this is not a fingerprint');
  const { reader, key } = memoryLog('odd-log', entries);
  const server = await startTileServer(reader);
  t.teardown(() => server.stop());
  const f = await follower(t, key);
  const { sync: s, failures } = sync(f, [server]);
  const err = await t.throwsAsync(s.run(reader.checkpoint()!), { instanceOf: InvalidLogEntryError });
  t.like(err, { logId: key.logId, index: 5 });
  t.deepEqual(failures, []);
  t.is(f.store.size, 0);
  t.false((await f.db.has(syncStageKey(logPrefix(key.logId)))) as boolean);
});

test('a source that ignores its abort signal is cut off by the time limit of the sync', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 600));
  const f = await follower(t, log.key);
  const direct = (id: string, hang: boolean): TileSource => ({
    id,
    checkpoint: async () => log.store.checkpoint()?.note,
    tiles: (_logId, tiles) =>
      hang ? new Promise(() => {}) : Promise.all(tiles.map((tile) => log.store.readTile(tile))),
  });
  const s = new LogSync(
    { db: f.db, store: f.store, sources: [direct('stuck', true), direct('fine', false)] },
    {
      requestTimeoutMs: 2000,
    },
  );
  const started = Date.now();
  t.like(await s.run(log.store.checkpoint()!), { toSize: 600, failedSources: ['stuck'] });
  t.true(Date.now() - started < 10_000);
  await assertMirrors(t, f, ENTRIES.slice(0, 600), log.store.checkpoint()!);
});

test('a request that stalls once is asked again; the sync keeps its only source', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 600));
  const f = await follower(t, log.key);
  let calls = 0;
  const stallsOnce: TileSource = {
    id: 'stalls-once',
    checkpoint: async () => log.store.checkpoint()?.note,
    tiles: (_logId, tiles) =>
      ++calls === 1 ? new Promise(() => {}) : Promise.all(tiles.map((tile) => log.store.readTile(tile))),
  };
  const failures: unknown[] = [];
  // The bound only cuts the stalled request: generous, so that answered ones never reach it on a loaded
  // machine (they did at 300 ms, with the suite's other files running beside this one).
  const s = new LogSync({ db: f.db, store: f.store, sources: [stallsOnce] }, { requestTimeoutMs: 2_000 });
  s.addEventListener('source-failed', (e) => failures.push(e.detail));
  t.like(await s.run(log.store.checkpoint()!), { toSize: 600, failedSources: [] });
  t.deepEqual(failures, []);
  t.true(calls > 1);
  await assertMirrors(t, f, ENTRIES.slice(0, 600), log.store.checkpoint()!);
});

test('a source added while the sync runs is used', async (t) => {
  const log = await sharedBuilder();
  const f = await follower(t, log.key);
  const slow: TileSource = {
    id: 'slow',
    checkpoint: async () => undefined,
    tiles: async (_logId, tiles) => {
      await new Promise((r) => setTimeout(r, 200));
      return Promise.all(tiles.map((tile) => log.store.readTile(tile)));
    },
  };
  const [late] = await servers(t, log, [undefined]);
  const s = new LogSync({ db: f.db, store: f.store, sources: [slow] }, { perSourceConcurrency: 1 });
  // Added once the first bundle is in: the pool is running by then.
  s.addEventListener('progress', () => s.addSource(late!.source), { once: true });
  t.like(await s.run(log.store.checkpoint()!), { toSize: 3000, failedSources: [] });
  t.true(late!.served.entries.length > 0);
  t.deepEqual(s.sources().sort(), [late!.url, 'slow'].sort());
});

test('with only bad sources the sync fails with SyncFailedError and the local copy is unchanged', async (t) => {
  const log = await builder(t, ENTRIES.slice(0, 3000));
  const f = await follower(t, log.key);
  const honest = await servers(t, log, [undefined]);
  await sync(f, honest).sync.run(log.store.checkpoint()!);
  await log.append(ENTRIES.slice(3000));

  const bad = await servers(t, log, [tampers.bundleByte, tampers.tileByte, tampers.wrongWidth]);
  const before = await snapshot(f.db);
  const { sync: s, failures } = sync(f, bad);
  const err = await t.throwsAsync(s.run(log.store.checkpoint()!), { instanceOf: SyncFailedError });
  t.is(err?.logId, log.key.logId);
  t.deepEqual(failures.map((x) => x.sourceId).sort(), bad.map((x) => x.url).sort());
  t.deepEqual(await snapshot(f.db), before);
  t.is(f.store.size, 3000);
  await assertMirrors(t, f, ENTRIES.slice(0, 3000), f.store.checkpoint()!);

  // No sources at all, or sources that do not have the log: the same typed failure.
  await t.throwsAsync(sync(f, []).sync.run(log.store.checkpoint()!), { instanceOf: SyncFailedError });
  const other = await builder(t, ENTRIES.slice(0, 10));
  const empty = await servers(t, other, [undefined]);
  const missing = sync(f, empty);
  await t.throwsAsync(missing.sync.run(log.store.checkpoint()!), { instanceOf: SyncFailedError });
  t.deepEqual(missing.failures, []); // not having a log is no fault
  // A server that is gone: unavailable.
  const gone = (await servers(t, log, [undefined]))[0]!;
  await gone.stop();
  const down = sync(f, [gone]);
  const downErr = await t.throwsAsync(down.sync.run(log.store.checkpoint()!), {
    instanceOf: SyncFailedError,
  });
  t.like(down.failures, [{ sourceId: gone.url, reason: 'unavailable' }]);
  t.regex(
    downErr!.message,
    /1 dropped for failures \(unavailable: .+\), 0 do not have it/,
    'the error says why',
  );
  t.is(f.store.size, 3000);
});

test('a forked builder (same key, other history) is reported with verifiable evidence and nothing is stored', async (t) => {
  const log = await sharedBuilder();
  const f = await follower(t, log.key);
  await sync(f, await servers(t, log, [undefined])).sync.run(log.store.checkpoint()!);
  const before = await snapshot(f.db);

  // Same key; the first 2,000 entries agree, then the histories differ.
  const forks = [
    await builder(t, [...ENTRIES.slice(0, 2000), ...ENTRIES.slice(2500, 4000)], log.secret), // larger
    await builder(t, [...ENTRIES.slice(0, 2000), ...ENTRIES.slice(3500, 4000)], log.secret), // smaller
    await builder(t, [...ENTRIES.slice(0, 2000), ...ENTRIES.slice(3000, 4000)], log.secret), // equal size
  ];
  for (const fork of forks) {
    const cp = fork.store.checkpoint()!;
    const err = await t.throwsAsync(sync(f, await servers(t, fork, [undefined])).sync.run(cp), {
      instanceOf: LogForkError,
    });
    t.deepEqual(
      [...err!.notes].map((n) => Buffer.from(n).toString()).sort(),
      [cp.note, log.store.checkpoint()!.note].map((n) => Buffer.from(n).toString()).sort(),
    );
    const evidence = verifyEvidence(err!.evidence!.bytes, log.key.verifier);
    t.deepEqual(
      [evidence.a.size, evidence.b.size].sort((a, b) => a - b),
      [cp.size, 3000].sort((a, b) => a - b),
    );
    t.deepEqual(await snapshot(f.db), before, `fork of size ${cp.size}`);
  }
});

test('an interrupted sync resumes after a restart without fetching its staged bundles again', async (t) => {
  const log = await sharedBuilder();
  const [srv] = await servers(t, log, [undefined]);
  const f = await follower(t, log.key);
  const init = { stepBundles: 2, windowBundles: 4, maxConcurrency: 2, perSourceConcurrency: 2 };

  const stop = new AbortController();
  const first = sync(f, [srv!], init);
  first.sync.addEventListener('progress', (e) => {
    if (e.detail.stored >= 1024) stop.abort(new Error('power cut'));
  });
  await t.throwsAsync(first.sync.run(log.store.checkpoint()!, { signal: stop.signal }), {
    message: 'power cut',
  });
  const staged = first.progress.at(-1)!.stored;
  t.true(staged >= 1024 && staged < 3000, `staged ${staged}`);
  t.is(f.store.size, 0); // nothing committed: the checkpoint comes last

  await f.reopen(); // a restart: the staged data is in LevelDB, the staging record says how much
  t.truthy(await f.db.get(syncStageKey(logPrefix(log.key.logId))));
  t.is(f.store.size, 0);
  const already = srv!.served.entries.length;
  const second = sync(f, [srv!], init);
  const result = await second.sync.run(log.store.checkpoint()!);
  t.true(result.resumedFrom >= staged, `resumed from ${result.resumedFrom}`);
  const refetched = srv!.served.entries.slice(already).map((e) => e.index);
  t.true(Math.min(...refetched) * 256 >= result.resumedFrom, `refetched ${refetched}`);
  t.like(second.progress.at(-1), { resumedFrom: result.resumedFrom, stored: 3000 - result.resumedFrom });
  t.false((await f.db.has(syncStageKey(logPrefix(log.key.logId)))) as boolean);
  await assertMirrors(t, f, ENTRIES.slice(0, 3000), log.store.checkpoint()!);
});

test('kill -9 in the middle of a sync: the copy reopens and verifies, and the sync resumes where it was', async (t) => {
  const log = await sharedBuilder();
  const [srv] = await servers(t, log, [undefined]);
  const dir = await tempDir('trustix-sync-crash-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'helpers', 'sync-child.ts'),
      join(dir, 'db'),
      log.key.vkey,
      srv!.url,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  let stored = 0;
  for await (const line of createInterface({ input: child.stdout })) {
    const m = /^stored (\d+)$/.exec(line);
    if (m !== null) stored = Number(m[1]);
    if (stored >= 1024) {
      child.kill('SIGKILL');
      break;
    }
  }
  t.is(await exited, 'SIGKILL');

  const db = await openDatabase(join(dir, 'db'));
  t.teardown(() => db.close());
  const f: Follower = { db, store: await LogStore.open(db, log.key), reopen: async () => {} };
  t.is(f.store.size, 0); // the checkpoint comes last; the staged steps wait below it
  const before = srv!.served.entries.length;
  const result = await sync(f, [srv!]).sync.run(log.store.checkpoint()!);
  t.true(result.resumedFrom >= stored, `staged ${stored}, resumed from ${result.resumedFrom}`);
  const refetched = srv!.served.entries.slice(before).map((e) => e.index);
  t.true(Math.min(...refetched) * 256 >= result.resumedFrom, `refetched ${refetched}`);
  t.is((await verifyLog(f.store)).entries, 3000);
});
