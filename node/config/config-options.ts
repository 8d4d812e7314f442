/**
 * The options of the config file as the node uses them, once parsed and checked (node/config/config-parser.ts):
 * types only, in their own module so that the parser and the code that reads the options share them
 * without one importing the other. For example:
 *
 *   {
 *     "http": "127.0.0.1:8565", "httpHosts": ["nix-cache.lan"],
 *     "listen": ["/ip4/0.0.0.0/tcp/8566"], "announce": [], "bootstrap": ["/dns4/…/p2p/12D3…"],
 *     "webrtc": true, "stun": ["stun:203.0.113.5:3478"],
 *     "maxConnections": 300, "maxConnectionsPerIp": 8, "maxConnectionsPerSubnet": 32,
 *     "follow": [{ "log": "mercury+0f1e2d3c+AQ…", "name": "mercury", "weight": 2,
 *                  "mirrors": ["https://mirror.example/trustix/"], "light": true,
 *                  "witnesses": ["w1+1a2b3c4d+BA…", "w2+…", "w3+…"], "witnessQuorum": 2 }],
 *     "witness": true,
 *     "vote": ["threshold 3/4", "trust cache.nixos.org-1"],
 *     "upstreams": ["https://cache.nixos.org", "file:///srv/nix-cache"],
 *     "substituter": { "priority": 30 }, "spool": "/var/lib/trustix-spool",
 *     "batch": { "intervalMs": 500, "maxSubmissions": 10000 },
 *     "sync": { "maxConcurrentSyncs": 2, "retryDelayMs": 5000, "maxRetryDelayMs": 600000,
 *               "maxTreeSize": 4294967296, "maxGrowth": 67108864, "sliceMs": 60000, "smallSyncEntries": 4096,
 *               "syncJitterMs": 3000, "maxEntryBytes": 32768, "maxReferences": 1024, "maxLogBytes": 17179869184,
 *               "windowBytes": 67108864, "minFreeBytes": 1073741824, "minBytesPerSecond": 16384 },
 *     "monitor": { "maxLogs": 100000, "maxMemoryBytes": 16777216, "maxPending": 256,
 *                  "budgetPerSecond": 10, "budgetBurst": 100, "peerBudgetPerSecond": 2, "peerBudgetBurst": 20 },
 *     "tiles": { "maxRequestsPerPeer": 1000, "maxRequestsPerSubnet": 4000, "maxBytesInFlight": 67108864,
 *                "maxBytesInFlightPerPeer": 8388608, "uploadSlots": 4, "fanout": 3 },
 *     "decisions": { "maxCachedBytes": 33554432 }
 *   }
 */
import type { DeciderSpec } from '../vote/decider.ts';

/** A log to follow, from the config file. */
export interface ConfiguredLog {
  /** A vkey or Nix public key. */
  readonly log: string;
  readonly name?: string;
  readonly weight?: number;
  /** Static HTTP mirrors of the log: base URLs serving `logs/<log ID>/...` (docs/PROTOCOL.md). */
  readonly mirrors?: readonly string[];
  /** Witness vkeys (canonical): with witnessQuorum, the log's witness quorum (docs/SECURITY.md). */
  readonly witnesses?: readonly string[];
  /** How many of `witnesses` must have cosigned a checkpoint before the log moves to it. */
  readonly witnessQuorum?: number;
  /** Follow light: lookups with proofs, no copy (docs/CLI.md). Default: unchanged, full for a new log. */
  readonly light?: boolean;
}

export interface TrustixConfig {
  /** The file it came from (undefined: none). */
  readonly file?: string;
  readonly http?: { readonly host: string; readonly port: number };
  /** Host names the HTTP server answers for besides localhost, IP literals and its listen host. */
  readonly httpHosts?: readonly string[];
  readonly listen?: readonly string[];
  readonly announce?: readonly string[];
  readonly bootstrap?: readonly string[];
  /** WebRTC hole punching (docs/ARCHITECTURE.md, "Reachability behind NAT"). Default: on unless `announce`. */
  readonly webrtc?: boolean;
  /**
   * STUN servers (`stun:HOST[:PORT]`) WebRTC asks for the node's NAT-mapped address. Default: the
   * configured bootstrap peers' IP addresses and TCP ports (a `trustix bootstrap` node answers STUN there).
   */
  readonly stun?: readonly string[];
  /**
   * The UDP port a public node (with `announce`) answers STUN on: true for the port of each TCP listen
   * address (the default), a number, or false for none.
   */
  readonly stunPort?: number | boolean;
  readonly maxConnections?: number;
  readonly maxConnectionsPerIp?: number;
  readonly maxConnectionsPerSubnet?: number;
  readonly follow?: readonly ConfiguredLog[];
  /** Cosign the checkpoints of the logs this node follows (docs/PROTOCOL.md, "Witness cosignatures"). */
  readonly witness?: boolean;
  readonly vote?: readonly DeciderSpec[];
  readonly upstreams?: readonly string[];
  readonly substituter?: { readonly priority?: number };
  readonly batch?: { readonly intervalMs?: number; readonly maxSubmissions?: number };
  /** The spool the post-build hook writes to: absolute, resolved against the file's directory. */
  readonly spool?: string;
  readonly sync?: {
    readonly maxConcurrentSyncs?: number;
    readonly retryDelayMs?: number;
    readonly maxRetryDelayMs?: number;
    readonly maxTreeSize?: number;
    readonly maxGrowth?: number;
    readonly sliceMs?: number;
    readonly smallSyncEntries?: number;
    readonly syncJitterMs?: number;
    readonly maxEntryBytes?: number;
    readonly maxReferences?: number;
    readonly maxLogBytes?: number;
    readonly windowBytes?: number;
    readonly minFreeBytes?: number;
    readonly minBytesPerSecond?: number;
  };
  /** The checkpoint monitor's bounds on gossip about logs nobody here follows (docs/SECURITY.md). */
  readonly monitor?: {
    readonly maxLogs?: number;
    readonly maxMemoryBytes?: number;
    readonly maxPending?: number;
    readonly budgetPerSecond?: number;
    readonly budgetBurst?: number;
    readonly peerBudgetPerSecond?: number;
    readonly peerBudgetBurst?: number;
  };
  /** The tile exchange's budgets (docs/SECURITY.md). */
  readonly tiles?: {
    readonly maxRequestsPerPeer?: number;
    readonly maxRequestsPerSubnet?: number;
    readonly maxBytesInFlight?: number;
    readonly maxBytesInFlightPerPeer?: number;
    /** Peers served one log's entry bundles at once (node/network/upload-slots.ts). */
    readonly uploadSlots?: number;
    /** New peers served the own log's full entry bundles per 10 s before the next are referred to them. */
    readonly fanout?: number;
  };
  /** The decision cache. */
  readonly decisions?: { readonly maxCachedBytes?: number };
}
