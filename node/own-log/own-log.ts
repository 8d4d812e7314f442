/**
 * The node's own log as a unit: its store, the durable submission queue, the resolver that turns
 * submitted derivations and paths into entries with Nix, the sequencer that appends them, and the
 * spool that takes the post-build hook's notes into the queue.
 */
import { readFile } from 'node:fs/promises';
import { formatNixPublicKey, logSigner } from '../../protocol/keys.ts';
import { NixCommandError, NixUnavailableError, OwnLogKeyError } from '../errors.ts';
import type { DataDir, NodeKeys } from '../store/data-dir.ts';
import type { Database } from '../store/database.ts';
import { OWN_LOG_KEY } from '../store/layout.ts';
import { LogStore } from '../store/log-store.ts';
import { NixStore, type NixStoreInit } from './nix-store.ts';
import { Sequencer } from './sequencer.ts';
import type { SequencerInit } from './sequencer-init.ts';
import { Spool, type SpoolInit } from './spool.ts';
import { SubmissionQueue } from './submission-queue.ts';
import { SubmissionResolver } from './submission-resolver.ts';

export interface OwnLog {
  readonly store: LogStore;
  readonly queue: SubmissionQueue;
  readonly sequencer: Sequencer;
  /** Started after the sequencer; stop it first. Undefined when the node takes no spool. */
  readonly spool: Spool | undefined;
}

/** Errors that may pass (Nix busy, missing from PATH for now): the submission stays queued. */
function isPassing(err: Error): boolean {
  return err instanceof NixCommandError || err instanceof NixUnavailableError || err.name === 'AbortError';
}

/**
 * Refuses a log key other than the one the stored own log was started with: a replaced log.secret would
 * silently begin a new log, leave log.public stale and orphan the old log. The first start records the
 * log ID (meta!own-log); a data directory from before that record is checked against log.public.
 */
export async function checkOwnLogKey(db: Database, keys: NodeKeys, paths: DataDir): Promise<void> {
  const stored = await db.get(OWN_LOG_KEY);
  const storedId = stored === undefined ? undefined : new TextDecoder().decode(stored);
  const publicText = await readFile(paths.logPublic, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  const publicKey = formatNixPublicKey(keys.logSecret);
  const stalePublic = publicText !== undefined && publicText.trim() !== publicKey;
  if (storedId === undefined && !stalePublic) {
    await db.put(OWN_LOG_KEY, new TextEncoder().encode(keys.log.logId), { sync: true });
    return;
  }
  if (storedId === keys.log.logId) return;
  const was =
    storedId !== undefined
      ? `the log stored in ${paths.db} was started with another key (log ID ${storedId})`
      : `${paths.logPublic} holds another key (${publicText!.trim().slice(0, 120)})`;
  throw new OwnLogKeyError(
    `${paths.logSecret} (key ${keys.logSecret.name}, log ID ${keys.log.logId}) is not this node's log key: ` +
      `${was}. Starting would begin a new log and orphan the old one, so the node refuses. To recover, ` +
      `put the original log.secret back (from your backup). To start a new log with this key on purpose, ` +
      `give it a new data directory (trustix init --key ${paths.logSecret} --data-dir NEW_DIR); the old ` +
      `log stays in ${paths.dir}.`,
  );
}

/**
 * Opens the own log and starts its sequencer (which signs an empty checkpoint for a new log), then the
 * spool, which takes in what the post-build hook left while the node was down.
 */
export async function startOwnLog(
  db: Database,
  keys: NodeKeys,
  storeDir: string,
  init: {
    readonly sequencer?: SequencerInit;
    readonly nix?: NixStoreInit;
    readonly spool?: Omit<SpoolInit, 'storeDir'> | undefined;
  },
): Promise<OwnLog> {
  const store = await LogStore.open(db, keys.log);
  const queue = await SubmissionQueue.open(db);
  const resolver = new SubmissionResolver({ nix: new NixStore({ storeDir, ...init.nix }) }, { storeDir });
  const sequencer = new Sequencer(
    {
      db,
      store,
      queue,
      signer: logSigner(keys.logSecret),
      resolve: async (submissions) =>
        (await resolver.resolveAll(submissions)).map((r) =>
          r.ok
            ? { ok: true, entries: r.entries.map((e) => e.fingerprint) }
            : { ok: false, error: r.error, retry: isPassing(r.error) },
        ),
    },
    { storeDir, ...init.sequencer },
  );
  await sequencer.start();
  if (init.spool === undefined) return { store, queue, sequencer, spool: undefined };
  const spool = new Spool({ queue }, { storeDir, ...init.spool });
  try {
    await spool.start();
  } catch (err) {
    await sequencer.stop();
    throw err;
  }
  return { store, queue, sequencer, spool };
}
