/**
 * The node's configuration file: `<data-dir>/config.json` by default (`--config FILE`), JSON with
 * comments and trailing commas (node/config-file.ts). Read and validated once at start; every error
 * names the file, the line and the option, and unknown options are errors (a typo must not be silently
 * ignored). Command-line flags override the file. Every option, its default and an example:
 * docs/CLI.md, "The config file".
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
 *
 * A decider is a shorthand string (parseDeciderSpec) or an object:
 *   { "threshold": { "count": 3, "fraction": "3/4" } }   fraction as "M/N" or a decimal
 *   { "majority": { "count": 2 } }                        more than half of the weight (count default 2)
 *   { "trust": "NAME" }
 *   { "script": "./decide.mjs", "timeoutMs": 1000 }       relative to the config file's directory
 */
import { dirname, resolve } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import type { Node } from 'jsonc-parser';
import { MAX_CHECKPOINT_COSIGNATURES, MAX_ENTRY_BYTES } from '../protocol/constants.ts';
import { parseWitnessVkey } from '../protocol/cosignature.ts';
import { MalformedError } from '../protocol/errors.ts';
import { parseLogKey } from '../protocol/keys.ts';
import { ConfigError, ConfigReader, readConfigText } from './config-file.ts';
import { InsecurePermissionsError } from './errors.ts';
import { checkPeerMultiaddr } from './network/peer-address.ts';
import { checkPermissions } from './store/file-permissions.ts';
import { fileExists } from './store/key-file.ts';
import { MAX_WEIGHT } from './store/log-weight.ts';
import { openBinaryCache } from './upstream/binary-cache.ts';
import { checkDeciderSpec, type DeciderSpec, parseDeciderSpec, parseFraction } from './vote/decider.ts';

export { ConfigError, MAX_CONFIG_BYTES } from './config-file.ts';

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

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/**
 * Reads the config file. A missing file is the empty configuration unless `required` (a file named
 * with --config must exist). ConfigError for anything unusable.
 */
export async function loadConfig(file: string, required = false): Promise<TrustixConfig> {
  const text = await readConfigText(file, required);
  if (text === undefined) return {};
  // It can name a script the node runs: nobody else may be able to change it (docs/SECURITY.md).
  await checkPermissions(file, { what: 'the config file' });
  const named: FileReference[] = [];
  const config = parseConfigText(text, file, named);
  for (const f of named) {
    // A spool that does not exist yet is created by `init` or `start` (mode 0700).
    if (f.what !== 'the spool' && !(await fileExists(f.path)))
      throw new ConfigError(file, f.line, `${f.option}: ${f.path}: no such file`);
    await checkNamedPermissions(file, f);
  }
  return config;
}

/**
 * A file the config names that changes what the node runs or publishes (a `script` decider; the spool,
 * whose files the node publishes in its log): checked to be safe once the file is parsed.
 */
interface FileReference {
  readonly path: string;
  readonly what: 'the decider script' | 'the spool';
  readonly line: number;
  readonly option: string;
}

/** checkPermissions of a file the config names, its refusal as a ConfigError naming the file's line too. */
async function checkNamedPermissions(file: string, f: FileReference) {
  try {
    await checkPermissions(f.path, { what: f.what });
  } catch (err) {
    if (err instanceof InsecurePermissionsError)
      throw new ConfigError(file, f.line, `${f.option}: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * The spool directory named in a config file: a path without control characters (the post-build hook
 * holds it in a shell script), relative to the file's directory `baseDir`.
 */
export function parseSpoolDir(text: string, baseDir: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (text === '' || /[\u0000-\u001f\u007f]/.test(text))
    throw new MalformedError('spool', 'expected a path without control characters');
  return resolve(baseDir, text);
}

/** `HOST:PORT` or `[IPv6]:PORT`. */
export function parseHttpAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port > 65_535)
    throw new MalformedError(
      'HTTP address',
      `expected HOST:PORT (e.g. 127.0.0.1:8565), not ${JSON.stringify(text.slice(0, 100))}`,
    );
  return { host: (m[1] ?? m[2])!, port };
}

/** A DNS host name (no port), lower-cased: what a Host header may name. */
export function parseHostName(text: string): string {
  if (
    text.length > 253 ||
    !/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
      text,
    )
  )
    throw new MalformedError(
      'host name',
      `expected a host name such as nix-cache.lan, not ${JSON.stringify(text.slice(0, 100))}`,
    );
  return text.toLowerCase();
}

/** A multiaddr, canonical; with `peer`, it must end in /p2p/<PeerId>. */
export function parseMultiaddr(text: string, peer = false): string {
  const m = multiaddr(text);
  if (peer) checkPeerMultiaddr(m);
  return m.toString();
}

/**
 * A STUN server URL as WebRTC takes it (RFC 7064): `stun:HOST[:PORT]`, HOST an IPv4 address, a bracketed
 * IPv6 address or a DNS name; PORT 1-65535 (default 3478). Returned unchanged.
 */
export function parseStunUrl(text: string): string {
  const m = /^stun:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[2] === undefined ? 3478 : Number(m[2]);
  if (!m || port < 1 || port > 65_535)
    throw new MalformedError(
      'STUN server',
      `expected stun:HOST[:PORT] such as stun:203.0.113.5:3478, not ${JSON.stringify(text.slice(0, 100))}`,
    );
  return text;
}

/** Parses and validates config text; `file` names it in errors and anchors relative paths. */
export function parseConfig(text: string, file: string): TrustixConfig {
  return parseConfigText(text, file, []);
}

function parseConfigText(text: string, file: string, named: FileReference[]): TrustixConfig {
  const r = new ConfigReader(file, text);
  const root = r.root();
  const config: Mutable<TrustixConfig> = { file };
  if (root === undefined) return config;
  const addrs = (peer: boolean) => (v: Node, o: string) =>
    r.array(v, o).map((item, i) => r.parsed(item, `${o}[${i}]`, (t) => parseMultiaddr(t, peer)));
  r.object(root, 'config', {
    http: (v, o) => {
      config.http = r.parsed(v, o, parseHttpAddress);
    },
    httpHosts: (v, o) => {
      config.httpHosts = r.array(v, o).map((item, i) => r.parsed(item, `${o}[${i}]`, parseHostName));
    },
    listen: (v, o) => {
      config.listen = addrs(false)(v, o);
    },
    announce: (v, o) => {
      config.announce = addrs(false)(v, o);
    },
    bootstrap: (v, o) => {
      config.bootstrap = addrs(true)(v, o);
    },
    webrtc: (v, o) => {
      if (v.type !== 'boolean') r.fail(v, o, 'expected true or false');
      config.webrtc = v.value as boolean;
    },
    stun: (v, o) => {
      config.stun = r.array(v, o).map((item, i) => r.parsed(item, `${o}[${i}]`, parseStunUrl));
    },
    stunPort: (v, o) => {
      config.stunPort = v.type === 'boolean' ? (v.value as boolean) : r.integer(v, o, 1, 65_535);
    },
    maxConnections: (v, o) => {
      config.maxConnections = r.integer(v, o, 1, 100_000);
    },
    maxConnectionsPerIp: (v, o) => {
      config.maxConnectionsPerIp = r.integer(v, o, 1, 100_000);
    },
    maxConnectionsPerSubnet: (v, o) => {
      config.maxConnectionsPerSubnet = r.integer(v, o, 1, 100_000);
    },
    follow: (v, o) => {
      config.follow = r.array(v, o).map((item, i) => followed(r, item, `${o}[${i}]`));
    },
    witness: (v, o) => {
      if (v.type !== 'boolean') r.fail(v, o, 'expected true or false');
      config.witness = v.value as boolean;
    },
    vote: (v, o) => {
      config.vote = r.array(v, o).map((item, i) => {
        const spec = decider(r, item, `${o}[${i}]`, dirname(resolve(file)));
        if (spec.kind === 'script')
          named.push({
            path: spec.module,
            what: 'the decider script',
            line: r.lineOf(item.offset),
            option: `${o}[${i}]`,
          });
        return spec;
      });
      if (config.vote.length === 0) r.fail(v, o, 'needs at least one decider');
    },
    upstreams: (v, o) => {
      config.upstreams = r
        .array(v, o)
        .map((item, i) => r.parsed(item, `${o}[${i}]`, (u) => openBinaryCache(u).url));
    },
    spool: (v, o) => {
      config.spool = r.parsed(v, o, (t) => parseSpoolDir(t, dirname(resolve(file))));
      named.push({ path: config.spool, what: 'the spool', line: r.lineOf(v.offset), option: o });
    },
    substituter: (v, o) => {
      const s: Mutable<NonNullable<TrustixConfig['substituter']>> = {};
      r.object(v, o, { priority: (x, p) => (s.priority = r.integer(x, p, 0, 1_000_000)) });
      config.substituter = s;
    },
    batch: (v, o) => {
      const b: Mutable<NonNullable<TrustixConfig['batch']>> = {};
      r.object(v, o, {
        intervalMs: (x, p) => (b.intervalMs = r.integer(x, p, 0, 60_000)),
        maxSubmissions: (x, p) => (b.maxSubmissions = r.integer(x, p, 1, 1_000_000)),
      });
      config.batch = b;
    },
    sync: (v, o) => {
      const s: Mutable<NonNullable<TrustixConfig['sync']>> = {};
      r.object(v, o, {
        maxConcurrentSyncs: (x, p) => (s.maxConcurrentSyncs = r.integer(x, p, 1, 64)),
        retryDelayMs: (x, p) => (s.retryDelayMs = r.integer(x, p, 10, 3_600_000)),
        maxRetryDelayMs: (x, p) => (s.maxRetryDelayMs = r.integer(x, p, 10, 86_400_000)),
        maxTreeSize: (x, p) => (s.maxTreeSize = r.integer(x, p, 1, Number.MAX_SAFE_INTEGER)),
        maxGrowth: (x, p) => (s.maxGrowth = r.integer(x, p, 256, Number.MAX_SAFE_INTEGER)),
        sliceMs: (x, p) => (s.sliceMs = r.integer(x, p, 100, 86_400_000)),
        smallSyncEntries: (x, p) => (s.smallSyncEntries = r.integer(x, p, 0, 1_000_000)),
        syncJitterMs: (x, p) => (s.syncJitterMs = r.integer(x, p, 0, 60_000)),
        maxEntryBytes: (x, p) => (s.maxEntryBytes = r.integer(x, p, 256, MAX_ENTRY_BYTES)),
        maxReferences: (x, p) => (s.maxReferences = r.integer(x, p, 0, MAX_ENTRY_BYTES)),
        maxLogBytes: (x, p) => (s.maxLogBytes = r.integer(x, p, 1, Number.MAX_SAFE_INTEGER)),
        windowBytes: (x, p) => (s.windowBytes = r.integer(x, p, 1, 2 ** 40)),
        minFreeBytes: (x, p) => (s.minFreeBytes = r.integer(x, p, 0, Number.MAX_SAFE_INTEGER)),
        minBytesPerSecond: (x, p) => (s.minBytesPerSecond = r.integer(x, p, 0, 2 ** 40)),
      });
      config.sync = s;
    },
    monitor: (v, o) => {
      const m: Mutable<NonNullable<TrustixConfig['monitor']>> = {};
      r.object(v, o, {
        maxLogs: (x, p) => (m.maxLogs = r.integer(x, p, 1, 100_000_000)),
        maxMemoryBytes: (x, p) => (m.maxMemoryBytes = r.integer(x, p, 0, 2 ** 40)),
        maxPending: (x, p) => (m.maxPending = r.integer(x, p, 1, 1_000_000)),
        budgetPerSecond: (x, p) => (m.budgetPerSecond = r.integer(x, p, 0, 1_000_000)),
        budgetBurst: (x, p) => (m.budgetBurst = r.integer(x, p, 1, 1_000_000)),
        peerBudgetPerSecond: (x, p) => (m.peerBudgetPerSecond = r.integer(x, p, 0, 1_000_000)),
        peerBudgetBurst: (x, p) => (m.peerBudgetBurst = r.integer(x, p, 1, 1_000_000)),
      });
      config.monitor = m;
    },
    tiles: (v, o) => {
      const t: Mutable<NonNullable<TrustixConfig['tiles']>> = {};
      r.object(v, o, {
        maxRequestsPerPeer: (x, p) => (t.maxRequestsPerPeer = r.integer(x, p, 1, 1_000_000)),
        maxRequestsPerSubnet: (x, p) => (t.maxRequestsPerSubnet = r.integer(x, p, 1, 10_000_000)),
        maxBytesInFlight: (x, p) => (t.maxBytesInFlight = r.integer(x, p, 1, 2 ** 40)),
        maxBytesInFlightPerPeer: (x, p) => (t.maxBytesInFlightPerPeer = r.integer(x, p, 1, 2 ** 40)),
        uploadSlots: (x, p) => (t.uploadSlots = r.integer(x, p, 1, 1_000)),
        fanout: (x, p) => (t.fanout = r.integer(x, p, 1, 1_000_000)),
      });
      config.tiles = t;
    },
    decisions: (v, o) => {
      const d: Mutable<NonNullable<TrustixConfig['decisions']>> = {};
      r.object(v, o, {
        maxCachedBytes: (x, p) => (d.maxCachedBytes = r.integer(x, p, 0, 2 ** 40)),
      });
      config.decisions = d;
    },
  });
  return config;
}

function followed(r: ConfigReader, node: Node, option: string): ConfiguredLog {
  const out: Mutable<ConfiguredLog> = { log: '' };
  r.object(node, option, {
    log: (v, o) => (out.log = r.parsed(v, o, (t) => parseLogKey(t).vkey)),
    name: (v, o) => (out.name = r.string(v, o)),
    weight: (v, o) => {
      if (v.type !== 'number' || !(v.value > 0) || v.value > MAX_WEIGHT)
        r.fail(v, o, `expected a number in (0, ${MAX_WEIGHT}]`);
      out.weight = v.value as number;
    },
    mirrors: (v, o) => {
      out.mirrors = r.array(v, o).map((item, i) => r.parsed(item, `${o}[${i}]`, parseMirrorUrl));
    },
    witnesses: (v, o) => {
      const items = r.array(v, o);
      if (items.length === 0 || items.length > MAX_CHECKPOINT_COSIGNATURES)
        r.fail(v, o, `expected 1 to ${MAX_CHECKPOINT_COSIGNATURES} witness vkeys`);
      const seen = new Set<string>();
      out.witnesses = items.map((item, i) => {
        const vkey = r.parsed(item, `${o}[${i}]`, (t) => parseWitnessVkey(t).vkey);
        if (seen.has(vkey)) r.fail(item, `${o}[${i}]`, 'this witness is listed twice');
        seen.add(vkey);
        return vkey;
      });
    },
    witnessQuorum: (v, o) => {
      out.witnessQuorum = r.integer(v, o, 1, MAX_CHECKPOINT_COSIGNATURES);
    },
    light: (v, o) => {
      if (v.type !== 'boolean') r.fail(v, o, 'expected true or false');
      out.light = v.value as boolean;
    },
  });
  if (out.log === '') r.fail(node, option, 'needs "log": a vkey or Nix public key');
  if (out.witnesses !== undefined && out.witnessQuorum === undefined)
    r.fail(node, option, '"witnesses" needs "witnessQuorum": how many of them must cosign');
  if (out.witnessQuorum !== undefined && out.witnesses === undefined)
    r.fail(node, option, '"witnessQuorum" needs "witnesses": the witness vkeys to count');
  if (out.witnesses !== undefined && out.witnessQuorum! > out.witnesses.length)
    r.fail(
      node,
      `${option}.witnessQuorum`,
      `${out.witnessQuorum} exceeds the ${out.witnesses.length} witness(es) listed`,
    );
  return out;
}

/** A mirror's base URL: http(s), no query or fragment, normalised to end in '/'. */
function parseMirrorUrl(text: string): string {
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TypeError('a mirror URL must be http(s)');
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '')
    throw new TypeError('a mirror URL takes no query, fragment or credentials');
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

function decider(r: ConfigReader, node: Node, option: string, baseDir: string): DeciderSpec {
  const anchored = (spec: DeciderSpec): DeciderSpec =>
    spec.kind === 'script' ? { ...spec, module: resolve(baseDir, spec.module) } : spec;
  if (node.type === 'string') return anchored(r.parsed(node, option, parseDeciderSpec));
  const props = r.properties(node, option);
  const [kind, , value] = props[0] ?? r.fail(node, option, 'empty decider');
  const check = (spec: DeciderSpec) => {
    try {
      return checkDeciderSpec(spec);
    } catch (err) {
      return r.fail(node, option, (err as Error).message);
    }
  };
  if (kind !== 'script' && props.length > 1)
    r.fail(props[1]![1], `${option}.${props[1]![0]}`, 'unknown option');
  switch (kind) {
    case 'threshold': {
      let count: number | undefined;
      let fraction: ReturnType<typeof parseFraction> | undefined;
      r.object(value, `${option}.threshold`, {
        count: (v, o) => (count = r.integer(v, o, 1, Number.MAX_SAFE_INTEGER)),
        fraction: (v, o) => {
          if (v.type !== 'string' && v.type !== 'number') r.fail(v, o, 'expected "M/N" or a decimal 0..1');
          try {
            fraction = parseFraction(String(v.value));
          } catch (err) {
            r.fail(v, o, (err as Error).message);
          }
        },
      });
      if (count === undefined || fraction === undefined)
        return r.fail(value, `${option}.threshold`, 'needs both count and fraction');
      return check({ kind: 'threshold', count, fraction });
    }
    case 'majority': {
      let count = 2;
      r.object(value, `${option}.majority`, {
        count: (v, o) => (count = r.integer(v, o, 1, Number.MAX_SAFE_INTEGER)),
      });
      return check({ kind: 'threshold', count, fraction: { numerator: 1, denominator: 2 }, strict: true });
    }
    case 'trust':
      return check({ kind: 'trust', log: r.string(value, `${option}.trust`) });
    case 'script': {
      let timeoutMs: number | undefined;
      for (const [key, k, v] of props.slice(1)) {
        if (key !== 'timeoutMs') r.fail(k, `${option}.${key}`, 'unknown option (known: timeoutMs)');
        timeoutMs = r.integer(v, `${option}.timeoutMs`, 1, 60_000);
      }
      return anchored(
        check({
          kind: 'script',
          module: r.string(value, `${option}.script`),
          ...(timeoutMs ? { timeoutMs } : {}),
        }),
      );
    }
    default:
      return r.fail(
        props[0]![1],
        `${option}.${kind}`,
        'unknown decider (known: threshold, majority, trust, script)',
      );
  }
}
