import { join } from 'node:path';
import test from 'ava';
import { StoreCorruptError } from '../node/errors.ts';
import { openDatabase } from '../node/store/database.ts';
import { encodeIndexList } from '../node/store/layout.ts';
import { LogStore } from '../node/store/log-store.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import { decodeEntryBundle, encodeEntryBundle } from '../protocol/entry-bundle.ts';
import { openLogFixture } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

async function builtLog(n: number) {
  const log = await openLogFixture();
  const entries = [...syntheticEntries(n, 17)];
  for (let i = 0; i < n; i += 700) await log.append(entries.slice(i, i + 700));
  await log.close();
  return { log, entries };
}

test('a log built in batches verifies in full, with progress', async (t) => {
  const { log } = await builtLog(3000);
  const db = await openDatabase(join(log.dir, 'db'));
  t.teardown(() => db.close());
  const store = await LogStore.open(db, log.key);
  const seen: number[] = [];
  const report = await verifyLog(store, { onProgress: (p) => seen.push(p.verified) });
  t.like(report, { size: 3000, entries: 3000 });
  t.true(report.tiles >= 12);
  t.is(seen.at(-1), 3000);
});

/** Opens the log, lets `damage` change the raw store, and expects verifyLog to name the damage. */
async function damaged(
  t: import('ava').ExecutionContext,
  damage: (db: Awaited<ReturnType<typeof openDatabase>>, store: LogStore) => Promise<void>,
  message: RegExp,
) {
  const { log } = await builtLog(600);
  const db = await openDatabase(join(log.dir, 'db'));
  t.teardown(() => db.close());
  await damage(db, await LogStore.open(db, log.key));
  // Reopen: damage that the cheap open-time check cannot see must be found by the full verification.
  const store = await LogStore.open(db, log.key);
  await t.throwsAsync(verifyLog(store), { instanceOf: StoreCorruptError, message });
}

test('an entry changed inside a full bundle is found', async (t) => {
  await damaged(
    t,
    async (db, store) => {
      const op = store.bundleOp(1, new Uint8Array());
      const bundle = decodeEntryBundle((await db.get(op.key))!, 256).map((e) => Uint8Array.from(e));
      bundle[7]![bundle[7]!.length - 2]! ^= 1;
      await db.put(op.key, encodeEntryBundle(bundle));
    },
    /differs|not a valid entry/,
  );
});

test('an entry missing from the path index is found', async (t) => {
  await damaged(
    t,
    async (db, store) => {
      const entry = new TextDecoder().decode((await store.entry(300))!);
      const hashPart = entry.slice(13, 45);
      await db.put(store.pathIndexKey(hashPart), encodeIndexList([]));
    },
    /missing from the path index/,
  );
});
