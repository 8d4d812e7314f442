// A sync's CPU work on the node's one thread is cut into pieces the event loop can serve requests between:
// fetched entry bundles arrive many at once (up to maxConcurrency in flight), and verifying each one
// (hashing and parsing its 256 entries) back to back in one turn held the loop for 100+ ms in the
// hostile benchmark (case b, 100,000 entries), delaying every narinfo request queued behind them.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { openDatabase } from '../node/store/database.ts';
import { LogStore } from '../node/store/log-store.ts';
import { LogSync } from '../node/sync/log-sync.ts';
import { openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';
import { startTileServer } from './helpers/tile-servers.ts';

test('a sync verifies at most one entry bundle per turn of the event loop', async (t) => {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  const entries = [...syntheticEntries(6000, 31)];
  for (let i = 0; i < entries.length; i += 2000) await log.append(entries.slice(i, i + 2000));
  const servers = [await startTileServer(log.store), await startTileServer(log.store)];
  t.teardown(async () => {
    for (const s of servers) await s.stop();
  });
  const dir = await tempDir('trustix-loop-turns-');
  const db = await openDatabase(join(dir, 'db'));
  t.teardown(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  const store = await LogStore.open(db, log.key);
  const sync = new LogSync({ db, store, sources: servers.map((s) => s.source) });

  // Turns of the event loop, counted by a callback that runs once in each (setImmediate: the check phase).
  let turn = 0;
  let counting = true;
  const count = () => {
    turn++;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  // The turn each bundle was verified in ('progress' with more entries verified, told at once).
  const verifiedIn: number[] = [];
  let verified = 0;
  sync.addEventListener('progress', (e) => {
    if (e.detail.verified > verified) verifiedIn.push(turn);
    verified = e.detail.verified;
  });
  await sync.run(log.store.checkpoint()!);
  counting = false;

  t.is(store.size, 6000);
  t.is(verifiedIn.length, Math.ceil(6000 / 256));
  const shared = verifiedIn.filter((x, i) => verifiedIn.indexOf(x) !== i);
  t.deepEqual(shared, [], 'turns in which more than one bundle was verified');
});
