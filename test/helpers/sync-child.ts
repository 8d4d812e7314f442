/**
 * Child process of the sync crash test: syncs the log `argv[3]` (a vkey) into the LevelDB `argv[2]` from
 * the HTTP server `argv[4]`, to its checkpoint, in small steps, printing `stored N` after each step,
 * until it is done or killed.
 */
import { openDatabase } from '../../node/store/database.ts';
import { LogStore } from '../../node/store/log-store.ts';
import { LogSync } from '../../node/sync/log-sync.ts';
import { HttpTileSource } from '../../node/sync/tile-source.ts';
import { parseLogKey } from '../../protocol/keys.ts';

const [dbDir, vkey, url] = process.argv.slice(2) as [string, string, string];
const key = parseLogKey(vkey);
const source = new HttpTileSource({ url });
const db = await openDatabase(dbDir);
const store = await LogStore.open(db, key);
const sync = new LogSync(
  { db, store, sources: [source] },
  { stepBundles: 1, windowBundles: 2, maxConcurrency: 1 },
);
let last = -1;
sync.addEventListener('progress', (e) => {
  const { stored } = e.detail;
  if (stored === last) return;
  last = stored;
  process.stdout.write(`stored ${stored}\n`);
});
await sync.run((await source.checkpoint(key.logId))!);
process.stdout.write('done\n');
await db.close();
