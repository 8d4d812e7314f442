/**
 * The settings a node runs with: built-in defaults, then the config file, then command-line flags.
 * `trustix start` runs with them; `trustix config show` prints them. The flags themselves:
 * cli/node-options.ts.
 */
import { defaultBootstrapPeers } from '../bootstrap/peers.ts';
import { dataDir } from '../node/client.ts';
import {
  type ConfiguredLog,
  DEFAULT_HTTP_PORT,
  DEFAULT_LISTEN,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_CONNECTIONS_PER_SUBNET,
  DEFAULT_VOTE,
  type DeciderSpec,
  formatDeciderSpec,
  isLocalOnly,
  LOG_LIMIT_DEFAULTS,
  LOG_QUOTA_DEFAULTS,
  loadConfig,
  MIN_FREE_BYTES,
  openBinaryCache,
  parseDeciderSpec,
  parseHttpAddress,
  parseMultiaddr,
  parseSpoolDir,
  SYNC_WINDOW_BYTES,
  stunOfBootstrap,
  type TrustixNodeInit,
  UPLOAD_SLOTS_DEFAULTS,
} from '../node/index.ts';
import { parseLogKey, RELAY_RESERVATIONS } from '../protocol/index.ts';
import { UsageError } from './exit-code.ts';
import { configFileOf, dataDirOf, type GlobalOptions, resolvePath } from './global-options.ts';
import type { NodeArgs } from './node-options.ts';

/** What the node runs with, as `config show` prints it (every value resolved). */
export interface EffectiveConfig {
  readonly dataDir: string;
  readonly configFile: string | null;
  readonly http: string;
  readonly httpHosts: readonly string[];
  readonly listen: readonly string[];
  readonly announce: readonly string[];
  readonly bootstrap: readonly string[];
  /**
   * WebRTC hole punching: default on for a node without `announce` (one that may sit behind NAT) that has
   * a STUN server to ask.
   */
  readonly webrtc: boolean;
  /** Configured, else the configured bootstrap peers' IP addresses at their TCP ports (never the built-in list). */
  readonly stun: readonly string[];
  /** UDP port a public node (announce) answers STUN on: true (each TCP listen port), a number, false (none). */
  readonly stunPort: number | boolean;
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly maxConnectionsPerSubnet: number;
  readonly follow: readonly ConfiguredLog[];
  readonly witness: boolean;
  readonly vote: readonly string[];
  readonly upstreams: readonly string[];
  readonly substituter: { readonly priority: number };
  readonly batch: { readonly intervalMs: number; readonly maxSubmissions: number };
  /** The spool the post-build hook writes to and the node takes in, absolute. */
  readonly spool: string;
  readonly sync: {
    readonly maxConcurrentSyncs: number;
    readonly retryDelayMs: number;
    readonly maxRetryDelayMs: number;
    readonly maxTreeSize: number;
    readonly maxGrowth: number;
    readonly sliceMs: number;
    readonly smallSyncEntries: number;
    readonly syncJitterMs: number;
    readonly maxEntryBytes: number;
    readonly maxReferences: number;
    readonly maxLogBytes: number;
    readonly windowBytes: number;
    readonly minFreeBytes: number;
    readonly minBytesPerSecond: number;
  };
  readonly monitor: {
    readonly maxLogs: number;
    readonly maxMemoryBytes: number;
    readonly maxPending: number;
    readonly budgetPerSecond: number;
    readonly budgetBurst: number;
    readonly peerBudgetPerSecond: number;
    readonly peerBudgetBurst: number;
  };
  readonly tiles: {
    readonly maxRequestsPerPeer: number;
    readonly maxRequestsPerSubnet: number;
    readonly maxBytesInFlight: number;
    readonly maxBytesInFlightPerPeer: number;
    readonly uploadSlots: number;
    readonly fanout: number;
  };
  readonly decisions: { readonly maxCachedBytes: number };
}

/** A flag value's parser whose errors are usage errors (exit 2) naming the flag. */
function flag<T>(name: string, parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (err) {
      throw new UsageError(`--${name} ${text}: ${(err as Error).message}`);
    }
  };
}

/** Defaults, config file, flags: the settings and the TrustixNodeInit they make. */
export async function effectiveConfig(
  argv: NodeArgs,
): Promise<{ config: EffectiveConfig; init: Omit<TrustixNodeInit, 'dataDir'> }> {
  const dataDir = dataDirOf(argv);
  const { file, required } = configFileOf(argv);
  const c = await loadConfig(file, required);
  const http = argv.http !== undefined ? flag('http', parseHttpAddress)(argv.http) : c.http;
  const listen = argv.listen?.map(flag('listen', (a) => parseMultiaddr(a))) ?? c.listen;
  const announce = argv.announce?.map(flag('announce', (a) => parseMultiaddr(a))) ?? c.announce;
  const bootstrap = argv.bootstrap?.map(flag('bootstrap', (a) => parseMultiaddr(a, true))) ?? c.bootstrap;
  const vote: readonly DeciderSpec[] =
    argv.vote?.map(flag('vote', parseDeciderSpec)) ?? c.vote ?? DEFAULT_VOTE;
  const upstreams = argv.upstream?.map(flag('upstream', (u) => openBinaryCache(u).url)) ?? c.upstreams ?? [];
  const intervalMs = argv['batch-interval'] ?? c.batch?.intervalMs ?? 500;
  // The configured bootstrap peers answer STUN when they are `trustix bootstrap` nodes; the built-in list
  // (public libp2p peers, not Trustix nodes) never does.
  const stun = c.stun ?? stunOfBootstrap(bootstrap ?? [], isLocalOnly());
  const effective: EffectiveConfig = {
    dataDir,
    configFile: c.file ?? null,
    http: `${http?.host ?? '127.0.0.1'}:${http?.port ?? DEFAULT_HTTP_PORT}`,
    httpHosts: c.httpHosts ?? [],
    listen: listen ?? DEFAULT_LISTEN,
    announce: announce ?? [],
    bootstrap: bootstrap ?? defaultBootstrapPeers(),
    // On by default where it can punch: behind NAT (no announce) with a STUN server to ask.
    webrtc: c.webrtc ?? ((announce ?? []).length === 0 && stun.length > 0),
    stun,
    stunPort: c.stunPort ?? true,
    maxConnections: c.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxConnectionsPerIp: c.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP,
    maxConnectionsPerSubnet: c.maxConnectionsPerSubnet ?? DEFAULT_MAX_CONNECTIONS_PER_SUBNET,
    follow: c.follow ?? [],
    witness: argv.witness ?? c.witness ?? false,
    vote: vote.map(formatDeciderSpec),
    upstreams,
    substituter: { priority: c.substituter?.priority ?? 30 },
    batch: { intervalMs, maxSubmissions: c.batch?.maxSubmissions ?? 10_000 },
    spool: spoolOf(argv, c.spool),
    sync: {
      maxConcurrentSyncs: c.sync?.maxConcurrentSyncs ?? 2,
      retryDelayMs: c.sync?.retryDelayMs ?? 5_000,
      maxRetryDelayMs: c.sync?.maxRetryDelayMs ?? 600_000,
      maxTreeSize: c.sync?.maxTreeSize ?? LOG_LIMIT_DEFAULTS.maxTreeSize,
      maxGrowth: c.sync?.maxGrowth ?? LOG_LIMIT_DEFAULTS.maxGrowth,
      sliceMs: c.sync?.sliceMs ?? 60_000,
      smallSyncEntries: c.sync?.smallSyncEntries ?? 4_096,
      syncJitterMs: c.sync?.syncJitterMs ?? 3_000,
      maxEntryBytes: c.sync?.maxEntryBytes ?? LOG_QUOTA_DEFAULTS.maxEntryBytes,
      maxReferences: c.sync?.maxReferences ?? LOG_QUOTA_DEFAULTS.maxReferences,
      maxLogBytes: c.sync?.maxLogBytes ?? LOG_QUOTA_DEFAULTS.maxLogBytes,
      windowBytes: c.sync?.windowBytes ?? SYNC_WINDOW_BYTES,
      minFreeBytes: c.sync?.minFreeBytes ?? MIN_FREE_BYTES,
      minBytesPerSecond: c.sync?.minBytesPerSecond ?? 16_384,
    },
    // The defaults of CheckpointMonitorInit, TileExchangeInit and DecisionsInit (docs/CLI.md).
    monitor: {
      maxLogs: c.monitor?.maxLogs ?? 100_000,
      maxMemoryBytes: c.monitor?.maxMemoryBytes ?? 16 * 1024 * 1024,
      maxPending: c.monitor?.maxPending ?? 256,
      budgetPerSecond: c.monitor?.budgetPerSecond ?? 10,
      budgetBurst: c.monitor?.budgetBurst ?? 100,
      peerBudgetPerSecond: c.monitor?.peerBudgetPerSecond ?? 2,
      peerBudgetBurst: c.monitor?.peerBudgetBurst ?? 20,
    },
    tiles: {
      maxRequestsPerPeer: c.tiles?.maxRequestsPerPeer ?? 1_000,
      maxRequestsPerSubnet: c.tiles?.maxRequestsPerSubnet ?? 4_000,
      maxBytesInFlight: c.tiles?.maxBytesInFlight ?? 64 * 1024 * 1024,
      maxBytesInFlightPerPeer: c.tiles?.maxBytesInFlightPerPeer ?? 8 * 1024 * 1024,
      uploadSlots: c.tiles?.uploadSlots ?? UPLOAD_SLOTS_DEFAULTS.slots,
      fanout: c.tiles?.fanout ?? UPLOAD_SLOTS_DEFAULTS.fanout,
    },
    decisions: { maxCachedBytes: c.decisions?.maxCachedBytes ?? 32 * 1024 * 1024 },
  };
  const m = effective.monitor;
  const { uploadSlots, fanout, ...tileBudgets } = effective.tiles;
  const init: Omit<TrustixNodeInit, 'dataDir'> = {
    http: {
      host: http?.host ?? '127.0.0.1',
      port: http?.port ?? DEFAULT_HTTP_PORT,
      allowedHosts: effective.httpHosts,
    },
    p2p: {
      listen: effective.listen,
      announce: effective.announce,
      bootstrap: effective.bootstrap,
      maxConnections: effective.maxConnections,
      ...reachability(effective.announce.length > 0),
      // Only a public node answers STUN: at its TCP port unless told otherwise.
      stunResponder:
        effective.announce.length > 0 &&
        (typeof effective.stunPort === 'number' ? { port: effective.stunPort } : effective.stunPort),
      // With no "stun" configured, connected Trustix relays are asked too (never the built-in list's peers).
      ...(effective.webrtc && { webrtc: { stun: effective.stun, stunFromPeers: c.stun === undefined } }),
      // The public DHT as a meeting point; a local-only node has no public peers to meet there.
      publicDht: !isLocalOnly(),
    },
    vote,
    // A script named on the command line is relative to where the command runs (the file's are anchored).
    voteBaseDir: resolvePath(argv, '.'),
    upstreams,
    substituter: effective.substituter,
    sequencer: { intervalMs, maxBatchSubmissions: effective.batch.maxSubmissions },
    follower: effective.sync,
    witness: effective.witness,
    // Witness quorums of followed logs: a split view needs that many colluding witnesses (docs/SECURITY.md).
    witnessQuorums: Object.fromEntries(
      effective.follow.flatMap((f) =>
        f.witnesses && f.witnessQuorum
          ? [[parseLogKey(f.log).logId, { witnesses: f.witnesses, quorum: f.witnessQuorum }]]
          : [],
      ),
    ),
    monitor: {
      maxLogs: m.maxLogs,
      maxMemoryBytes: m.maxMemoryBytes,
      maxPending: m.maxPending,
      budget: { perSecond: m.budgetPerSecond, burst: m.budgetBurst },
      peerBudget: { perSecond: m.peerBudgetPerSecond, burst: m.peerBudgetBurst },
    },
    tiles: { ...tileBudgets, uploads: { slots: uploadSlots, fanout } },
    connections: { maxPerIp: effective.maxConnectionsPerIp, maxPerSubnet: effective.maxConnectionsPerSubnet },
    decisions: effective.decisions,
    // Static HTTP mirrors of followed logs: sources no DHT eclipse can hide (docs/SECURITY.md).
    sources: {
      mirrors: Object.fromEntries(
        effective.follow.filter((f) => f.mirrors?.length).map((f) => [parseLogKey(f.log).logId, f.mirrors!]),
      ),
    },
  };
  return { config: effective, init };
}

/** The spool: --spool (relative to the working directory), else the config file's, else `<data dir>/spool`. */
function spoolOf(argv: NodeArgs, configured: string | undefined): string {
  if (argv.spool !== undefined)
    return flag('spool', (t) => parseSpoolDir(t, resolvePath(argv, '.')))(argv.spool);
  return configured ?? dataDir(dataDirOf(argv)).spool;
}

/**
 * The spool alone, for `init`: the same precedence as `start` (flag, config file, default), without the
 * rest of the configuration.
 */
export async function effectiveSpool(argv: GlobalOptions & { readonly spool?: string }): Promise<string> {
  const { file, required } = configFileOf(argv);
  return spoolOf(argv, (await loadConfig(file, required)).spool);
}

/**
 * A node that announces an address is public: a DHT server and a relay for others. Any other node may
 * sit behind NAT: a DHT client until a public address is confirmed, holding relay reservations so that
 * peers can reach it (docs/ARCHITECTURE.md, "Reaching nodes behind NAT").
 */
function reachability(announced: boolean): NonNullable<TrustixNodeInit['p2p']> {
  return announced
    ? { dhtClientMode: false, relayServer: true }
    : { dhtClientMode: 'auto', relayReservations: RELAY_RESERVATIONS };
}
