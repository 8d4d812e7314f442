import { join } from 'node:path';
import test from 'ava';
import { initDataDir } from '../node/store/data-dir.ts';
import { openDatabase } from '../node/store/database.ts';
import { LogStore } from '../node/store/log-store.ts';
import { runCli } from './helpers/cli.ts';
import { openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

test('trustix verify: exit 0 with a report for a sound log, exit 3 (and with --json, the failure as JSON) once a stored tile is damaged', async (t) => {
  const dir = await tempDir('trustix-cli-verify-');
  const { logSecret } = await initDataDir(dir, { name: 'verify-test-1' });
  const log = await openLogFixture({ dir, secret: logSecret });
  await log.append([...syntheticEntries(700, 4)]);
  await log.close();

  const ok = await runCli(['verify', '--data-dir', dir, '--json']);
  t.is(ok.code, 0, ok.stderr);
  t.like(JSON.parse(ok.stdout), { ok: true, size: 700, entries: 700 });

  const db = await openDatabase(join(dir, 'db'));
  const store = await LogStore.open(db, log.key);
  const { key } = store.tileOp({
    tile: { kind: 'hash', level: 0, index: 1, width: 256 },
    data: new Uint8Array(),
  });
  const tile = Uint8Array.from((await db.get(key))!);
  tile[40]! ^= 1;
  await db.put(key, tile);
  await db.close();

  const bad = await runCli(['verify', '--data-dir', dir]);
  t.is(bad.code, 3);
  t.regex(bad.stderr, /does not verify: .*tile 0\/1/);
  t.is(bad.stdout, '');

  // --json readers get their document when verification fails too (docs/CLI.md).
  const badJson = await runCli(['verify', '--data-dir', dir, '--json']);
  t.is(badJson.code, 3);
  const document = JSON.parse(badJson.stdout);
  t.deepEqual(Object.keys(document), ['ok', 'logId', 'error']);
  t.like(document, { ok: false, logId: log.key.logId });
  t.regex(document.error, /does not verify: .*tile 0\/1/);
  t.regex(badJson.stderr, /^trustix: .*does not verify/);
});
