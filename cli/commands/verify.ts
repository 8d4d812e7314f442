/**
 * `trustix verify [LOG]`: recompute a log from its entries and compare everything with what is stored
 * and signed (node/store/log-verifier.ts): the node's own log, or a followed log named by name, log ID, vkey
 * or Nix public key. Works on the data directory directly, so the node must be stopped (LevelDB admits
 * one process).
 */
import type { Argv, CommandModule } from 'yargs';
import { dataDir, loadKeys, StoreCorruptError, StoreLockedError } from '../../node/client.ts';
import { FollowedLogs, LogStore, openDatabase, verifyLog } from '../../node/index.ts';
import type { LogKey } from '../../protocol/index.ts';
import { VerificationError } from '../../protocol/index.ts';
import { UsageError } from '../exit-code.ts';
import { dataDirOf, type GlobalOptions } from '../global-options.ts';
import { print } from '../output.ts';
import { Progress } from '../progress.ts';

interface VerifyArgs extends GlobalOptions {
  readonly log?: string;
}

export const verifyCommand: CommandModule<GlobalOptions, VerifyArgs> = {
  command: 'verify [log]',
  describe:
    "Recompute a log (default: the node's own) and check it against its signed checkpoint (node stopped)",
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs.positional('log', {
      type: 'string',
      describe: 'A followed log: name, log ID, vkey or Nix public key',
    }),
  handler: async (argv) => {
    const dir = dataDirOf(argv);
    const db = await openDatabase(dataDir(dir).db).catch((err: unknown) => {
      if (err instanceof StoreLockedError)
        throw new StoreLockedError(`${dir} (stop the running node first: verify reads the store directly)`);
      throw err;
    });
    const progress = new Progress('verify', argv.json, argv.io.stderr);
    let key: LogKey | undefined;
    try {
      if (argv.log === undefined) key = (await loadKeys(dir)).log;
      else {
        const followed = (await FollowedLogs.open(db)).get(argv.log);
        if (followed === undefined) throw new UsageError(`${argv.log} is not a followed log of ${dir}`);
        key = followed.key;
      }
      const store = await LogStore.open(db, key);
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
      const failure =
        err instanceof StoreCorruptError ? new VerificationError('log', err.message, { cause: err }) : err;
      // --json readers get their document in every outcome of the verification itself.
      if (argv.json && failure instanceof VerificationError && key !== undefined)
        print(argv, { ok: false, logId: key.logId, error: failure.message }, () => '');
      throw failure;
    } finally {
      await db.close();
    }
  },
};
