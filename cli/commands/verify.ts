/**
 * `trustix verify`: recompute the node's log from its entries and compare everything with what is
 * stored and signed (node/log-verifier.ts). Works on the data directory directly, so the node must be
 * stopped (LevelDB admits one process).
 */
import type { CommandModule } from 'yargs';
import { dataDir, loadKeys } from '../../node/data-dir.ts';
import { openDatabase } from '../../node/database.ts';
import { StoreCorruptError, StoreLockedError } from '../../node/errors.ts';
import { LogStore } from '../../node/log-store.ts';
import { verifyLog } from '../../node/log-verifier.ts';
import { VerificationError } from '../../protocol/errors.ts';
import { dataDirOf, type GlobalOptions } from '../global-options.ts';
import { print } from '../output.ts';
import { Progress } from '../progress.ts';

export const verifyCommand: CommandModule<GlobalOptions, GlobalOptions> = {
  command: 'verify',
  describe: "Recompute the node's log and check it against its signed checkpoint (node stopped)",
  handler: async (argv) => {
    const dir = dataDirOf(argv);
    const keys = await loadKeys(dir);
    const db = await openDatabase(dataDir(dir).db).catch((err: unknown) => {
      if (err instanceof StoreLockedError)
        throw new StoreLockedError(`${dir} (stop the running node first: verify reads the store directly)`);
      throw err;
    });
    const progress = new Progress('verify', argv.json);
    try {
      const store = await LogStore.open(db, keys.log);
      const report = await verifyLog(store, { onProgress: (p) => progress.update(p.verified, p.size) });
      progress.end();
      print(
        argv,
        { ok: true, ...report },
        (r) => `log ${r.logId}: ${r.size} entries and ${r.tiles} tiles verified`,
      );
    } catch (err) {
      progress.end();
      // A store that does not verify is a verification failure (exit 3), not an I/O error.
      if (err instanceof StoreCorruptError) throw new VerificationError('log', err.message, { cause: err });
      throw err;
    } finally {
      await db.close();
    }
  },
};
