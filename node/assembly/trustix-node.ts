/**
 * A Trustix node assembled from its parts. Roles:
 * - `node` (default): the node's own log (sequencer, submissions), followed logs kept in sync, gossip,
 *   tile exchange, DHT records, HTTP on 127.0.0.1, the control socket;
 * - `bootstrap`: no log of its own: a long-lived DHT server and gossip relay (it still validates gossip,
 *   so it relays no junk), with the control socket for status.
 * `start()` brings the parts up in dependency order; `stop()` takes them down in reverse, finishing the
 * batch in progress so nothing acknowledged is lost (both in node/assembly/trustix-node-lifecycle.ts). With
 * `p2p: false` the node works alone (a builder whose log is read over HTTP). Its settings and their
 * defaults: node/assembly/trustix-node-init.ts. The network side is assembled in node/assembly/network-side.ts, the user side
 * (vote, substituter, statistics) in node/assembly/user-side.ts; this module is the node's public API: the parts
 * it runs, as started.
 */
import '../runtime/promise-with-resolvers.ts';
import { NotStartedError } from '../errors.ts';
import type { CheckpointMonitor } from '../monitor/checkpoint-monitor.ts';
import type { TrustixLibp2p } from '../network/libp2p-services.ts';
import type { LightLogs } from '../network/light-logs.ts';
import type { Sequencer } from '../own-log/sequencer.ts';
import type { Spool } from '../own-log/spool.ts';
import type { MemoryReleaser } from '../runtime/memory-releaser.ts';
import type { ReproStats } from '../stats/repro-stats.ts';
import type { NodeKeys } from '../store/data-dir.ts';
import type { FollowedLogs } from '../store/followed-logs.ts';
import type { LogStore } from '../store/log-store.ts';
import type { Follower } from '../sync/follower.ts';
import type { UpstreamCaches } from '../upstream/upstream-caches.ts';
import type { Decisions } from '../vote/decisions.ts';
import { StartedParts } from './started-parts.ts';
import type { TrustixNodeInit } from './trustix-node-init.ts';
import { type NodeState, startNode, stopNode } from './trustix-node-lifecycle.ts';
import type { UserSide } from './user-side.ts';

// The node's settings, re-exported: who starts a node configures it from the same import.
export { DEFAULT_HTTP_PORT, NODE_DATABASE, type TrustixNodeInit } from './trustix-node-init.ts';

export class TrustixNode {
  private readonly init: TrustixNodeInit;
  private readonly state: NodeState = { parts: new StartedParts() };

  constructor(init: TrustixNodeInit) {
    this.init = init;
  }

  async start(): Promise<void> {
    await startNode(this, this.init, this.state);
  }

  async stop(): Promise<void> {
    await stopNode(this.state);
  }

  get keys(): NodeKeys {
    if (this.state.keys === undefined)
      throw new NotStartedError('this node has no log key (bootstrap role, or not started)');
    return this.state.keys;
  }

  get ownLog(): LogStore {
    if (this.state.ownLog === undefined) throw new NotStartedError('this node has no log of its own');
    return this.state.ownLog;
  }

  get sequencer(): Sequencer {
    if (this.state.sequencer === undefined) throw new NotStartedError('this node has no log of its own');
    return this.state.sequencer;
  }

  /** The spool the post-build hook writes to (undefined without one). */
  get spool(): Spool | undefined {
    return this.state.spool;
  }

  /** The follower (undefined without a network). */
  get follower(): Follower | undefined {
    return this.state.follower;
  }

  /** The logs followed light (undefined without a network). */
  get light(): LightLogs | undefined {
    return this.state.light;
  }

  get followed(): FollowedLogs {
    if (this.state.followed === undefined) throw new NotStartedError('the node is not started');
    return this.state.followed;
  }

  get monitor(): CheckpointMonitor {
    if (this.state.monitor === undefined) throw new NotStartedError('the node is not started');
    return this.state.monitor;
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
    return this.state.memory;
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
    if (this.state.user === undefined)
      throw new NotStartedError('this node has no user side (bootstrap role, or not started)');
    return this.state.user;
  }

  /** The libp2p node (undefined without a network). */
  get libp2p(): TrustixLibp2p | undefined {
    return this.state.libp2p;
  }

  httpAddress(): { host: string; port: number } {
    if (this.state.http === undefined) throw new NotStartedError('the node has no HTTP server');
    return this.state.http.address();
  }
}
