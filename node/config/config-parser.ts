/**
 * The strict parser of the config file's sections: every option and its bounds, each `follow` entry, and
 * the files the config names (FileReference), which node/config/config.ts checks once the text is parsed. Apart
 * from the loading so that text can be checked without a file on disk (node/config/config.ts's parseConfig).
 */
import { dirname, resolve } from 'node:path';
import type { Node } from 'jsonc-parser';
import { MAX_CHECKPOINT_COSIGNATURES, MAX_ENTRY_BYTES } from '../../protocol/constants.ts';
import { parseWitnessVkey } from '../../protocol/cosignature.ts';
import { parseLogKey } from '../../protocol/keys.ts';
import { MAX_WEIGHT } from '../store/log-weight.ts';
import { openBinaryCache } from '../upstream/binary-cache.ts';
import { decider } from './config-decider.ts';
import { ConfigReader } from './config-file.ts';
import type { ConfiguredLog, TrustixConfig } from './config-options.ts';
import {
  parseHostName,
  parseHttpAddress,
  parseMirrorUrl,
  parseMultiaddr,
  parseSpoolDir,
  parseStunUrl,
} from './config-values.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/**
 * A file the config names that changes what the node runs or publishes (a `script` decider; the spool,
 * whose files the node publishes in its log): checked to be safe once the file is parsed.
 */
export interface FileReference {
  readonly path: string;
  readonly what: 'the decider script' | 'the spool';
  readonly line: number;
  readonly option: string;
}

/** Parses and validates config text, adding the files it names to `named`. */
export function parseConfigText(text: string, file: string, named: FileReference[]): TrustixConfig {
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
