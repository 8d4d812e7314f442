/**
 * node/'s door for the node itself: what `trustix start`, `bootstrap`, `demo`, `verify` and `import-cache`
 * run in the process, and the parts the benchmarks measure. cli/, bench/ and bootstrap/ import node/ only
 * through this module and node/client.ts (docs/ARCHITECTURE.md, "The rooms of node/"). Loading it loads
 * libp2p and LevelDB: a client command imports node/client.ts instead.
 */
import './runtime/promise-with-resolvers.ts';

export { TrustixNode } from './assembly/trustix-node.ts';
export { DEFAULT_HTTP_PORT, type TrustixNodeInit } from './assembly/trustix-node-init.ts';
export { DEFAULT_VOTE } from './assembly/user-side.ts';
export { loadConfig } from './config/config.ts';
export type { ConfiguredLog } from './config/config-options.ts';
export { parseHttpAddress, parseMultiaddr, parseSpoolDir } from './config/config-values.ts';
export { MAX_DEMO_BUILDS, MIN_DEMO_BUILDS } from './demo/builds.ts';
export { DEFAULT_DEMO_ENTRIES, runDemo } from './demo/run-demo.ts';
export { HttpServer } from './http/server.ts';
export { CheckpointMonitor } from './monitor/checkpoint-monitor.ts';
export type { CheckpointEvent } from './monitor/checkpoint-verdict.ts';
export {
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_CONNECTIONS_PER_SUBNET,
} from './network/connection-budget.ts';
export { providingDhts } from './network/dhts.ts';
export { Gossip, gossipScoreParams } from './network/gossip.ts';
export { createLibp2pNode } from './network/libp2p-node.ts';
export { DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, type Libp2pNodeInit } from './network/libp2p-node-init.ts';
export type { TrustixLibp2p } from './network/libp2p-services.ts';
export { Libp2pTileSource } from './network/libp2p-tile-source.ts';
export { isLocalOnly } from './network/local-only.ts';
export { LogProviders } from './network/log-providers.ts';
export { ProviderList } from './network/provider-list.ts';
export { type Reachability, reachabilityOf } from './network/reachability.ts';
export { stunOfBootstrap } from './network/stun-servers.ts';
export { TileExchange } from './network/tile-exchange.ts';
export { UPLOAD_SLOTS_DEFAULTS, UploadSlots, type UploadSlotsInit } from './network/upload-slots.ts';
export { narTreeOf } from './own-log/nar-fs.ts';
export { NixStore } from './own-log/nix-store.ts';
export type { Submission } from './own-log/submission-queue.ts';
export { ApiRoutes } from './routes/api.ts';
export { Substituter } from './routes/substituter.ts';
export { type AllocatorPolicyInit, DAEMON_ENVIRONMENT } from './runtime/allocator-policy.ts';
export type { MemoryRelease } from './runtime/memory-releaser.ts';
export { ReproStats } from './stats/repro-stats.ts';
export { openDatabase } from './store/database.ts';
export { FollowedLogs } from './store/followed-logs.ts';
export { LogStore } from './store/log-store.ts';
export { verifyLog } from './store/log-verifier.ts';
export { MIN_FREE_BYTES } from './sync/disk-watermark.ts';
export { Follower } from './sync/follower.ts';
export { LOG_QUOTA_DEFAULTS } from './sync/log-quota.ts';
export { LogSync } from './sync/log-sync.ts';
export { LOG_LIMIT_DEFAULTS, SYNC_WINDOW_BYTES } from './sync/log-sync-settings.ts';
export { openBinaryCache } from './upstream/binary-cache.ts';
export { type ImportProgress, type ImportSummary, importCache, submitSink } from './upstream/cache-import.ts';
export { UpstreamCaches } from './upstream/upstream-caches.ts';
export {
  createDeciderChain,
  type DeciderSpec,
  formatDeciderSpec,
  parseDeciderSpec,
  unsatisfiableVote,
} from './vote/decider.ts';
export { Decisions } from './vote/decisions.ts';
