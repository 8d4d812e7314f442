/**
 * How a Trustix node (node/assembly/trustix-node.ts) starts and stops. `startNode` brings the parts up in
 * dependency order, each wired to those before it: the store, the own log, the checkpoint monitor, the
 * network side (node/assembly/network-side.ts), the user side (node/assembly/user-side.ts), HTTP, the control socket and
 * the memory releaser. `stopNode` takes them down in reverse, finishing the batch in progress so nothing
 * acknowledged is lost, then closes the store. Apart from the node's public API because the order is the
 * assembly's substance (what may write before what, what stops before the store closes), while the node
 * only hands out the parts that run.
 */
import { logger } from '@libp2p/logger';
import { type ControlledNode, controlOps } from '../control/control-ops.ts';
import { SubmitServer } from '../control/submit-server.ts';
import { KeyFileError } from '../errors.ts';
import { HttpServer } from '../http/server.ts';
import { CheckpointMonitor } from '../monitor/checkpoint-monitor.ts';
import type { TrustixLibp2p } from '../network/libp2p-services.ts';
import type { LightLogs } from '../network/light-logs.ts';
import { checkOwnLogKey, startOwnLog } from '../own-log/own-log.ts';
import type { Sequencer } from '../own-log/sequencer.ts';
import type { Spool } from '../own-log/spool.ts';
import { LogRoutes } from '../routes/logs.ts';
import { MetricsRoutes, NodeMetrics } from '../routes/metrics.ts';
import { applyAllocatorPolicy } from '../runtime/allocator-policy.ts';
import { MemoryReleaser } from '../runtime/memory-releaser.ts';
import { checkDataDir, dataDir, loadKeys, type NodeKeys } from '../store/data-dir.ts';
import { type Database, openDatabase } from '../store/database.ts';
import { FollowedLogs } from '../store/followed-logs.ts';
import type { LogDirectory, LogReader } from '../store/log-reader.ts';
import type { LogStore } from '../store/log-store.ts';
import type { Follower } from '../sync/follower.ts';
import { startNetworkSide } from './network-side.ts';
import type { StartedParts } from './started-parts.ts';
import {
  DEFAULT_HTTP_PORT,
  NODE_DATABASE,
  type TrustixNodeInit,
  witnessSettings,
} from './trustix-node-init.ts';
import { startUserSide, type UserSide } from './user-side.ts';

const log = logger('trustix:node');

/**
 * A node's running parts, set by startNode as they start (and kept after a stop, but for the store); the
 * node's getters read them.
 */
export interface NodeState {
  /** What was started, to stop in reverse. */
  readonly parts: StartedParts;
  db?: Database;
  keys?: NodeKeys;
  ownLog?: LogStore;
  sequencer?: Sequencer;
  spool?: Spool;
  follower?: Follower;
  light?: LightLogs;
  followed?: FollowedLogs;
  monitor?: CheckpointMonitor;
  libp2p?: TrustixLibp2p;
  http?: HttpServer;
  user?: UserSide;
  memory?: MemoryReleaser;
}

/** The node being started: the control operations reach its parts through it, and a failed start stops it. */
export interface StartingNode extends ControlledNode {
  stop(): Promise<void>;
}

/** Starts the node's parts into `state` (nothing when its store is open already). */
export async function startNode(node: StartingNode, init: TrustixNodeInit, state: NodeState): Promise<void> {
  if (state.db !== undefined) return;
  const paths = dataDir(init.dataDir);
  const storeDir = init.storeDir ?? '/nix/store';
  const isNode = (init.role ?? 'node') === 'node';
  // Nobody else may change it, and the node writes there (loadKeys checks the keys again).
  await checkDataDir(paths.dir, { writable: true });
  const keys = isNode ? await loadKeys(paths.dir) : undefined;
  // Before LevelDB's threads allocate: they get their arenas from the policy.
  if (init.allocator !== false) await applyAllocatorPolicy(init.allocator);
  const db = await openDatabase(paths.db, { ...NODE_DATABASE, ...init.database });
  state.db = db;
  const started = (part: { stop(): Promise<void> | void }) => state.parts.add(() => part.stop());
  try {
    // Our own log first: nothing else may write before the sequencer has checked the store.
    if (keys !== undefined) await checkOwnLogKey(db, keys, paths);
    const spool = init.spool === false ? undefined : { dir: paths.spool, ...init.spool };
    const own = keys === undefined ? undefined : await startOwnLog(db, keys, storeDir, { ...init, spool });
    if (own !== undefined) started(own.sequencer);
    if (own?.spool !== undefined) started(own.spool);
    state.keys = keys;
    state.ownLog = own?.store;
    state.sequencer = own?.sequencer;
    state.spool = own?.spool;

    const followed = await FollowedLogs.open(db);
    state.followed = followed;
    const held = (id: string): LogStore | undefined =>
      id === own?.store.logId ? own.store : state.follower?.get(id);
    const directory: LogDirectory = {
      get: held,
      list: () => [...(own ? [own.store] : []), ...(state.follower?.list() ?? [])] as LogReader[],
      own: (id) => id === own?.store.logId,
    };
    if (init.witness === true && keys?.witness === undefined)
      throw new KeyFileError(
        paths.witnessSecret,
        `missing: witnessing needs a witness key; run 'trustix init --data-dir ${paths.dir}' to add one`,
      );
    // Gossip about logs nobody here follows stays in memory and is rate-limited (docs/SECURITY.md).
    const monitor = new CheckpointMonitor(
      { db, logs: { get: held }, followed: (id) => followed.get(id) !== undefined },
      { ...witnessSettings(init, keys?.witness?.key), ...init.monitor },
    );
    await monitor.start();
    state.monitor = monitor;
    // This node's registry (libp2p's metrics and ours), served at /metrics by any node with HTTP.
    const metrics = new NodeMetrics({
      db,
      own,
      followed,
      follower: () => state.follower,
      stats: () => state.user?.stats,
      mesh: () => state.libp2p?.services.pubsub,
    });

    if (init.p2p !== false) {
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
          stored: async (id, bundles) => state.user?.stats.ingest(id, bundles),
          ...(init.witness === true && keys?.witness && { witness: keys.witness.signer }),
        },
        { ...init, p2p: init.p2p ?? {}, storeDir },
      );
      started(network);
      state.libp2p = network.libp2p;
      state.follower = network.follower;
      state.light = network.light;
    }

    let user: UserSide | undefined;
    if (keys !== undefined) {
      const ops = controlOps(node);
      user = await startUserSide(
        {
          db,
          followed,
          follower: state.follower,
          light: state.light,
          monitor,
          cacheKey: keys.cacheSecret,
          storeDir,
          control: (op, args) => ops[op]!({ ...args, op }),
          onDecision: metrics.onDecision,
        },
        init,
      );
      started(user);
      state.user = user;
    }

    if (init.http !== false) {
      const http = new HttpServer({ observer: metrics }, { port: DEFAULT_HTTP_PORT, ...init.http });
      http.register(new LogRoutes({ logs: directory }));
      http.register(new MetricsRoutes(metrics));
      for (const routes of user?.routes ?? []) http.register(routes);
      await http.start();
      state.http = http;
      started(http);
    }
    const server = new SubmitServer(
      { ...(own ? { queue: own.queue, sequencer: own.sequencer } : {}), ops: controlOps(node) },
      { socketPath: paths.socket, storeDir },
    );
    await server.start();
    started(server);
    if (init.memory !== false) {
      // A sync is one burst, however long it waits on its sources: the rest after it releases.
      const memory = new MemoryReleaser({
        working: () => node.follower?.syncing === true,
        ...init.memory,
      });
      memory.addEventListener('released', (e) => metrics.onMemoryRelease(e.detail));
      await memory.start();
      state.memory = memory;
      started(memory);
    }
    log('node started');
  } catch (err) {
    await node.stop().catch(() => {});
    throw err;
  }
}

/** Stops the node's parts in reverse and closes its store (nothing when it is not started). */
export async function stopNode(state: NodeState): Promise<void> {
  const db = state.db;
  if (db === undefined) return;
  // Reverse order: stop taking work, let the sequencer finish its batch, then close the store.
  await state.parts.stop();
  state.db = undefined;
  await db.close();
  log('node stopped');
}
