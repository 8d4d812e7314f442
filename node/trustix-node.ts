/**
 * A Trustix node assembled from its parts. Roles:
 * - `node` (default): the node's own log (sequencer, submissions), followed logs kept in sync, gossip,
 *   tile exchange, DHT records, HTTP on 127.0.0.1, the control socket;
 * - `bootstrap`: no log of its own: a long-lived DHT server and gossip relay (it still validates gossip,
 *   so it relays no junk), with the control socket for status.
 * `start()` brings the parts up in dependency order; `stop()` takes them down in reverse, finishing the
 * batch in progress so nothing acknowledged is lost. With `p2p: false` the node works alone (a builder
 * whose log is read over HTTP). The network side is assembled in node/network-side.ts, the user side
 * (vote, substituter, statistics) in node/user-side.ts; this module wires them to the store, the own
 * log, the checkpoint monitor, HTTP, the control socket and the memory releaser.
 */
import './runtime/promise-with-resolvers.ts';
import { logger } from '@libp2p/logger';
import { parseWitnessVkey, type WitnessKey } from '../protocol/cosignature.ts';
import { controlOps } from './control/control-ops.ts';
import { SubmitServer } from './control/submit-server.ts';
import { KeyFileError, NotStartedError } from './errors.ts';
import { HttpServer, type HttpServerInit } from './http/server.ts';
import { CheckpointMonitor, type CheckpointMonitorInit } from './monitor/checkpoint-monitor.ts';
import type { WitnessQuorum } from './monitor/cosignatures.ts';
import type { TrustixLibp2p } from './network/libp2p-services.ts';
import type { LightLogs } from './network/light-logs.ts';
import { startNetworkSide } from './network-side.ts';
import type { NetworkSideInit } from './network-side-init.ts';
import type { NixStoreInit } from './own-log/nix-store.ts';
import { checkOwnLogKey, startOwnLog } from './own-log/own-log.ts';
import type { Sequencer, SequencerInit } from './own-log/sequencer.ts';
import type { Spool, SpoolInit } from './own-log/spool.ts';
import { LogRoutes } from './routes/logs.ts';
import { MetricsRoutes, NodeMetrics } from './routes/metrics.ts';
import { type AllocatorPolicyInit, applyAllocatorPolicy } from './runtime/allocator-policy.ts';
import { MemoryReleaser, type MemoryReleaserInit } from './runtime/memory-releaser.ts';
import { StartedParts } from './started-parts.ts';
import type { ReproStats } from './stats/repro-stats.ts';
import { checkDataDir, dataDir, loadKeys, type NodeKeys } from './store/data-dir.ts';
import { type Database, type DatabaseInit, openDatabase } from './store/database.ts';
import { FollowedLogs } from './store/followed-logs.ts';
import type { LogDirectory, LogReader } from './store/log-reader.ts';
import type { LogStore } from './store/log-store.ts';
import type { Follower } from './sync/follower.ts';
import type { UpstreamCaches } from './upstream/upstream-caches.ts';
import { startUserSide, type UserSide, type UserSideInit } from './user-side.ts';
import type { Decisions } from './vote/decisions.ts';

const log = logger('trustix:node');

/** The HTTP port a node listens on by default (on 127.0.0.1). */
export const DEFAULT_HTTP_PORT = 8565;

/**
 * A node's LevelDB memory by default: LevelDB's own sizes, not openDatabase's larger ones. A node runs
 * for months and its big writes are syncs of followed logs, which store whole steps at once; the larger
 * buffers cost it about 40-70 MB of resident memory (glibc keeps what LevelDB frees) for little gain.
 */
export const NODE_DATABASE: Required<DatabaseInit> = {
  writeBufferSize: 4 * 1024 * 1024,
  // Half LevelDB's own 8 MiB: reads are point reads of tiles, bundles and path records, which the OS's
  // file cache serves as well; measured with the memory benchmark's figures (docs/ARCHITECTURE.md).
  cacheSize: 4 * 1024 * 1024,
  // LevelDB maps its open table files: with its 1,000, a node following 3 logs of 1,000,000 entries had
  // 242 MB of them resident at rest (RssFile; 56 MB anonymous). 64 tables of ~2 MB bound it; a read of
  // a table not open costs an open and its index block.
  maxOpenFiles: 64,
  // LevelDB's own. Larger tables put more mapped pages in the resident set while syncing: 3 logs of
  // 100,000 entries peaked at 206 MB with 8 MiB tables (141 MB of it file pages, 80 MB of tables)
  // against 170 MB (86 MB file) with 2 MiB, and took more CPU (bench/memory.ts, docs/ARCHITECTURE.md).
  maxFileSize: 2 * 1024 * 1024,
};

/**
 * Settings of a node; the user side's (vote, upstreams, substituter, statistics) are UserSideInit's, the
 * network side's (follower, gossip, providers, tiles, bans) NetworkSideInit's.
 */
export interface TrustixNodeInit extends UserSideInit, Omit<NetworkSideInit, 'p2p' | 'storeDir'> {
  /** The data directory (keys, LevelDB, socket); a `node` needs it initialised (see initDataDir). */
  readonly dataDir: string;
  /** Default 'node'. */
  readonly role?: 'node' | 'bootstrap';
  /** HTTP server settings (default 127.0.0.1:8565), or false for none. */
  readonly http?: HttpServerInit | false;
  /** libp2p settings (default: listen on TCP 8566, no bootstrap peers), or false for no network. */
  readonly p2p?: NetworkSideInit['p2p'] | false;
  /** The Nix store directory. Default '/nix/store'. */
  readonly storeDir?: string;
  /** LevelDB's memory. Default NODE_DATABASE (a builder publishing in bulk may want more). */
  readonly database?: DatabaseInit;
  readonly sequencer?: SequencerInit;
  readonly nix?: NixStoreInit;
  /**
   * The spool the post-build hook writes to (node/own-log/spool.ts); default `<dataDir>/spool`. False
   * for none (a bootstrap node never has one).
   */
  readonly spool?: Partial<Omit<SpoolInit, 'storeDir'>> | false;
  readonly monitor?: CheckpointMonitorInit;
  /**
   * Witness: cosign every checkpoint of the logs this node follows once verified, and gossip the cosigned
   * notes (docs/PROTOCOL.md, "Witness cosignatures"). Needs the data directory's witness key
   * (initWitnessKey; `trustix init` makes it). Default false.
   */
  readonly witness?: boolean;
  /**
   * Witness quorums by log ID: a followed log listed here moves only to checkpoints carrying `quorum`
   * valid cosignatures by its `witnesses` (witness vkeys; docs/SECURITY.md). Default none.
   */
  readonly witnessQuorums?: Readonly<
    Record<string, { readonly witnesses: readonly string[]; readonly quorum: number }>
  >;
  /** When memory goes back to the OS after a burst of work, or false never to release it. */
  readonly memory?: MemoryReleaserInit | false;
  /**
   * How V8 and glibc size their heaps in this process (node/runtime/allocator-policy.ts), or false to
   * leave their defaults. Applied once per process, when the node starts.
   */
  readonly allocator?: AllocatorPolicyInit | false;
}

export class TrustixNode {
  private readonly init: TrustixNodeInit;
  private readonly parts = new StartedParts();
  private db: Database | undefined;
  private keysValue: NodeKeys | undefined;
  private ownLogValue: LogStore | undefined;
  private sequencerValue: Sequencer | undefined;
  private spoolValue: Spool | undefined;
  private followerValue: Follower | undefined;
  private lightValue: LightLogs | undefined;
  private followedValue: FollowedLogs | undefined;
  private monitorValue: CheckpointMonitor | undefined;
  private libp2pValue: TrustixLibp2p | undefined;
  private http: HttpServer | undefined;
  private userValue: UserSide | undefined;
  private memoryValue: MemoryReleaser | undefined;

  constructor(init: TrustixNodeInit) {
    this.init = init;
  }

  async start(): Promise<void> {
    if (this.db !== undefined) return;
    const paths = dataDir(this.init.dataDir);
    const storeDir = this.init.storeDir ?? '/nix/store';
    const isNode = (this.init.role ?? 'node') === 'node';
    // Nobody else may change it, and the node writes there (loadKeys checks the keys again).
    await checkDataDir(paths.dir, { writable: true });
    const keys = isNode ? await loadKeys(paths.dir) : undefined;
    // Before LevelDB's threads allocate: they get their arenas from the policy.
    if (this.init.allocator !== false) await applyAllocatorPolicy(this.init.allocator);
    const db = await openDatabase(paths.db, { ...NODE_DATABASE, ...this.init.database });
    this.db = db;
    const started = (part: { stop(): Promise<void> | void }) => this.parts.add(() => part.stop());
    try {
      // Our own log first: nothing else may write before the sequencer has checked the store.
      if (keys !== undefined) await checkOwnLogKey(db, keys, paths);
      const spool = this.init.spool === false ? undefined : { dir: paths.spool, ...this.init.spool };
      const own =
        keys === undefined ? undefined : await startOwnLog(db, keys, storeDir, { ...this.init, spool });
      if (own !== undefined) started(own.sequencer);
      if (own?.spool !== undefined) started(own.spool);
      this.keysValue = keys;
      this.ownLogValue = own?.store;
      this.sequencerValue = own?.sequencer;
      this.spoolValue = own?.spool;

      const followed = await FollowedLogs.open(db);
      this.followedValue = followed;
      const held = (id: string): LogStore | undefined =>
        id === own?.store.logId ? own.store : this.followerValue?.get(id);
      const directory: LogDirectory = {
        get: held,
        list: () => [...(own ? [own.store] : []), ...(this.followerValue?.list() ?? [])] as LogReader[],
        own: (id) => id === own?.store.logId,
      };
      if (this.init.witness === true && keys?.witness === undefined)
        throw new KeyFileError(
          paths.witnessSecret,
          `missing: witnessing needs a witness key; run 'trustix init --data-dir ${paths.dir}' to add one`,
        );
      // Gossip about logs nobody here follows stays in memory and is rate-limited (docs/SECURITY.md).
      const monitor = new CheckpointMonitor(
        { db, logs: { get: held }, followed: (id) => followed.get(id) !== undefined },
        { ...witnessSettings(this.init, keys?.witness?.key), ...this.init.monitor },
      );
      await monitor.start();
      this.monitorValue = monitor;
      // This node's registry (libp2p's metrics and ours), served at /metrics by any node with HTTP.
      const metrics = new NodeMetrics({
        db,
        own,
        followed,
        follower: () => this.followerValue,
        stats: () => this.userValue?.stats,
        mesh: () => this.libp2pValue?.services.pubsub,
      });

      if (this.init.p2p !== false) {
        const network = await startNetworkSide(
          {
            db,
            dir: paths.dir,
            followed,
            monitor,
            own,
            logs: directory,
            registry: metrics.registry,
            // The statistics take in what a sync stores while it is in memory (ReproStats.ingest).
            stored: async (id, bundles) => this.userValue?.stats.ingest(id, bundles),
            ...(this.init.witness === true && keys?.witness && { witness: keys.witness.signer }),
          },
          { ...this.init, p2p: this.init.p2p ?? {}, storeDir },
        );
        started(network);
        this.libp2pValue = network.libp2p;
        this.followerValue = network.follower;
        this.lightValue = network.light;
      }

      let user: UserSide | undefined;
      if (keys !== undefined) {
        const ops = controlOps(this);
        user = await startUserSide(
          {
            db,
            followed,
            follower: this.followerValue,
            light: this.lightValue,
            monitor,
            cacheKey: keys.cacheSecret,
            storeDir,
            control: (op, args) => ops[op]!({ ...args, op }),
            onDecision: metrics.onDecision,
          },
          this.init,
        );
        started(user);
        this.userValue = user;
      }

      if (this.init.http !== false) {
        const http = new HttpServer({ observer: metrics }, { port: DEFAULT_HTTP_PORT, ...this.init.http });
        http.register(new LogRoutes({ logs: directory }));
        http.register(new MetricsRoutes(metrics));
        for (const routes of user?.routes ?? []) http.register(routes);
        await http.start();
        this.http = http;
        started(http);
      }
      const server = new SubmitServer(
        { ...(own ? { queue: own.queue, sequencer: own.sequencer } : {}), ops: controlOps(this) },
        { socketPath: paths.socket, storeDir },
      );
      await server.start();
      started(server);
      if (this.init.memory !== false) {
        // A sync is one burst, however long it waits on its sources: the rest after it releases.
        const memory = new MemoryReleaser({
          working: () => this.follower?.syncing === true,
          ...this.init.memory,
        });
        memory.addEventListener('released', (e) => metrics.onMemoryRelease(e.detail));
        await memory.start();
        this.memoryValue = memory;
        started(memory);
      }
      log('node started');
    } catch (err) {
      await this.stop().catch(() => {});
      throw err;
    }
  }

  async stop(): Promise<void> {
    const db = this.db;
    if (db === undefined) return;
    // Reverse order: stop taking work, let the sequencer finish its batch, then close the store.
    await this.parts.stop();
    this.db = undefined;
    await db.close();
    log('node stopped');
  }

  get keys(): NodeKeys {
    if (this.keysValue === undefined)
      throw new NotStartedError('this node has no log key (bootstrap role, or not started)');
    return this.keysValue;
  }

  get ownLog(): LogStore {
    if (this.ownLogValue === undefined) throw new NotStartedError('this node has no log of its own');
    return this.ownLogValue;
  }

  get sequencer(): Sequencer {
    if (this.sequencerValue === undefined) throw new NotStartedError('this node has no log of its own');
    return this.sequencerValue;
  }

  /** The spool the post-build hook writes to (undefined without one). */
  get spool(): Spool | undefined {
    return this.spoolValue;
  }

  /** The follower (undefined without a network). */
  get follower(): Follower | undefined {
    return this.followerValue;
  }

  /** The logs followed light (undefined without a network). */
  get light(): LightLogs | undefined {
    return this.lightValue;
  }

  get followed(): FollowedLogs {
    if (this.followedValue === undefined) throw new NotStartedError('the node is not started');
    return this.followedValue;
  }

  get monitor(): CheckpointMonitor {
    if (this.monitorValue === undefined) throw new NotStartedError('the node is not started');
    return this.monitorValue;
  }

  /** 'node', or 'bootstrap' (no keys, no log, no vote). */
  get role(): 'node' | 'bootstrap' {
    return this.init.role ?? 'node';
  }

  /** The Nix store directory the node works for. */
  get storeDir(): string {
    return this.init.storeDir ?? '/nix/store';
  }

  /** The vote over the followed logs (a `node` only). */
  get decisions(): Decisions {
    return this.user.decisions;
  }

  /** Gives memory back to the OS at rest; undefined when turned off (init.memory false). */
  get memory(): MemoryReleaser | undefined {
    return this.memoryValue;
  }

  /** The reproducibility statistics (a `node` only). */
  get stats(): ReproStats {
    return this.user.stats;
  }

  /** The upstream binary caches (a `node` only). */
  get upstreams(): UpstreamCaches {
    return this.user.upstreams;
  }

  private get user(): UserSide {
    if (this.userValue === undefined)
      throw new NotStartedError('this node has no user side (bootstrap role, or not started)');
    return this.userValue;
  }

  /** The libp2p node (undefined without a network). */
  get libp2p(): TrustixLibp2p | undefined {
    return this.libp2pValue;
  }

  httpAddress(): { host: string; port: number } {
    if (this.http === undefined) throw new NotStartedError('the node has no HTTP server');
    return this.http.address();
  }
}

/**
 * The monitor's witness settings: the quorums by log ID, and every witness whose cosignatures it keeps
 * (those the quorums list, and this node's own).
 */
function witnessSettings(
  init: TrustixNodeInit,
  own: WitnessKey | undefined,
): Pick<CheckpointMonitorInit, 'witnesses' | 'quorums'> {
  const quorums = new Map<string, WitnessQuorum>();
  const known = new Map<string, WitnessKey>(own ? [[own.vkey, own]] : []);
  for (const [logId, q] of Object.entries(init.witnessQuorums ?? {})) {
    const witnesses = q.witnesses.map(parseWitnessVkey);
    if (!Number.isSafeInteger(q.quorum) || q.quorum < 1 || q.quorum > witnesses.length)
      throw new RangeError(`the witness quorum of log ${logId} must be 1 to ${witnesses.length}`);
    for (const w of witnesses) known.set(w.vkey, w);
    quorums.set(logId, { witnesses, quorum: q.quorum });
  }
  return { witnesses: [...known.values()], quorums };
}
