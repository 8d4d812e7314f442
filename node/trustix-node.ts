/**
 * A Trustix node assembled from its parts: the store, the own log and its sequencer, the submission
 * socket, and the HTTP server. `start()` brings them up in dependency order, `stop()` takes them down
 * in reverse, finishing the batch in progress so nothing acknowledged is lost.
 */
import { logger } from '@libp2p/logger';
import { logSigner } from '../protocol/keys.ts';
import { dataDir, loadKeys, type NodeKeys } from './data-dir.ts';
import { type Database, openDatabase } from './database.ts';
import { NixCommandError, NixUnavailableError } from './errors.ts';
import { LogRoutes } from './http-logs.ts';
import { HttpServer, type HttpServerInit } from './http-server.ts';
import type { LogDirectory, LogReader } from './log-reader.ts';
import { LogStore } from './log-store.ts';
import { NixStore, type NixStoreInit } from './nix-store.ts';
import { Sequencer, type SequencerInit } from './sequencer.ts';
import { SubmissionQueue } from './submission-queue.ts';
import { SubmissionResolver } from './submission-resolver.ts';
import { SubmitServer } from './submit-server.ts';

const log = logger('trustix:node');

/** Errors that may pass (Nix busy, missing from PATH for now): the submission stays queued. */
function isPassing(err: Error): boolean {
  return err instanceof NixCommandError || err instanceof NixUnavailableError || err.name === 'AbortError';
}

/** The HTTP port a node listens on by default (on 127.0.0.1). */
export const DEFAULT_HTTP_PORT = 8565;

export interface TrustixNodeInit {
  /** The data directory (keys, LevelDB, socket); must be initialised (see initDataDir). */
  readonly dataDir: string;
  /** HTTP server settings. Default 127.0.0.1:8565. */
  readonly http?: HttpServerInit;
  /** The Nix store directory. Default '/nix/store'. */
  readonly storeDir?: string;
  readonly sequencer?: SequencerInit;
  readonly nix?: NixStoreInit;
}

interface Running {
  readonly db: Database;
  readonly keys: NodeKeys;
  readonly ownLog: LogStore;
  readonly sequencer: Sequencer;
  readonly submit: SubmitServer;
  readonly http: HttpServer;
}

export class TrustixNode {
  private readonly init: TrustixNodeInit;
  private running: Running | undefined;

  constructor(init: TrustixNodeInit) {
    this.init = init;
  }

  async start(): Promise<void> {
    if (this.running !== undefined) return;
    const paths = dataDir(this.init.dataDir);
    const storeDir = this.init.storeDir ?? '/nix/store';
    const keys = await loadKeys(paths.dir);
    const db = await openDatabase(paths.db);
    const started: { stop(): Promise<void> }[] = [];
    try {
      const ownLog = await LogStore.open(db, keys.log);
      const queue = await SubmissionQueue.open(db);
      const resolver = new SubmissionResolver(
        { nix: new NixStore({ storeDir, ...this.init.nix }) },
        { storeDir },
      );
      const sequencer = new Sequencer(
        {
          db,
          store: ownLog,
          queue,
          signer: logSigner(keys.logSecret),
          resolve: async (submissions) =>
            (await resolver.resolveAll(submissions)).map((r) =>
              r.ok
                ? { ok: true, entries: r.entries.map((e) => e.fingerprint) }
                : { ok: false, error: r.error, retry: isPassing(r.error) },
            ),
        },
        { storeDir, ...this.init.sequencer },
      );
      await sequencer.start();
      started.push(sequencer);
      const logs = new Map<string, LogReader>([[ownLog.logId, ownLog]]);
      const directory: LogDirectory = { get: (id) => logs.get(id), list: () => [...logs.values()] };
      const http = new HttpServer({}, { port: DEFAULT_HTTP_PORT, ...this.init.http });
      http.register(new LogRoutes({ logs: directory }));
      await http.start();
      started.push(http);
      const submit = new SubmitServer({ queue }, { socketPath: paths.socket, storeDir });
      await submit.start();
      started.push(submit);
      this.running = { db, keys, ownLog, sequencer, submit, http };
      log('node started: log %s, http %o', ownLog.logId, http.address());
    } catch (err) {
      for (const s of started.reverse()) await s.stop().catch(() => {});
      await db.close();
      throw err;
    }
  }

  async stop(): Promise<void> {
    const r = this.running;
    if (r === undefined) return;
    this.running = undefined;
    // Stop taking work first, then let the sequencer finish its batch, then close the store.
    await r.submit.stop();
    await r.http.stop();
    await r.sequencer.stop();
    await r.db.close();
    log('node stopped');
  }

  private get state(): Running {
    if (this.running === undefined) throw new Error('the node is not started');
    return this.running;
  }

  get keys(): NodeKeys {
    return this.state.keys;
  }

  get ownLog(): LogStore {
    return this.state.ownLog;
  }

  get sequencer(): Sequencer {
    return this.state.sequencer;
  }

  httpAddress(): { host: string; port: number } {
    return this.state.http.address();
  }
}
