/**
 * Child process of the swarm benchmark (bench/swarm.ts): hosts several real Trustix nodes (TrustixNode:
 * libp2p, LevelDB, gossip, tile exchange, DHT, HTTP for /metrics, the control socket) in one process,
 * because an idle node process costs ~120 MB and a few hundred of them would not fit. Driven over the
 * IPC channel, one request at a time per id: `{ id, op, ...args }` in, `{ id, ok, result | error }` out.
 * Every address it listens on is the one host address it is given (127.0.0.1, or its own network
 * namespace's); TRUSTIX_LOCAL_ONLY is inherited from the parent.
 */
import '../node/client.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initDataDir, loadKeys, submit } from '../node/client.ts';
import type { CheckpointEvent } from '../node/index.ts';
import {
  createLibp2pNode,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_CONNECTIONS_PER_SUBNET,
  LogProviders,
  TrustixNode,
} from '../node/index.ts';
import { CHECKPOINT_TOPIC, TILES_PROTOCOLS } from '../protocol/index.ts';
import { syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { SWARM_ADDRESSES } from './swarm-addresses.ts';

export type Role = 'bootstrap' | 'builder' | 'follower';

export interface NodeSpec {
  readonly name: string;
  readonly role: Role;
}

export interface StartedNode {
  readonly name: string;
  readonly role: Role;
  readonly peerId: string;
  /** Its listen address, ending in /p2p/<PeerId> (as libp2p gives it). */
  readonly addr: string;
  /** A builder's verifying key. */
  readonly vkey?: string;
  readonly logId?: string;
}

/** Per-node byte counters from its /metrics (libp2p_data_transfer_bytes_total). */
export interface NodeTraffic {
  readonly name: string;
  readonly role: Role;
  /** Bytes on the node's connections (after encryption and muxing), both ways. */
  readonly sent: number;
  readonly received: number;
  /** Tile exchange payload bytes this node sent (served) and received. */
  readonly tilesSent: number;
  readonly tilesReceived: number;
  /** Bytes sent per protocol (stream payload), for the breakdown. */
  readonly byProtocol: Record<string, number>;
}

/** A checkpoint's arrival at a node's monitor. */
export interface Arrival {
  readonly at: number;
  /** Whether it came by gossip (else by checkpoint catch-up or a sync). */
  readonly gossip: boolean;
  /** The node's checkpoint-topic mesh peers then. */
  readonly mesh: number;
}

interface Member {
  spec: NodeSpec;
  node: TrustixNode;
  dir: string;
  socket: string;
  httpPort: number;
  logId?: string;
  /**
   * `logId:size` -> when this node's monitor accepted it (epoch ms, high resolution), whether from gossip,
   * and its checkpoint mesh then.
   */
  arrivals: Map<string, Arrival>;
  /** A builder's checkpoints: size -> when its sequencer signed it. */
  signed: Map<number, number>;
}

const SYNC_JITTER_MS = process.env.TRUSTIX_BENCH_SWARM_SYNC_JITTER_MS;
const UPLOAD_SLOTS = process.env.TRUSTIX_BENCH_SWARM_UPLOAD_SLOTS;
const FANOUT = process.env.TRUSTIX_BENCH_SWARM_FANOUT;
const PATIENCE_MS = process.env.TRUSTIX_BENCH_SWARM_PATIENCE_MS;
const now = () => performance.timeOrigin + performance.now();
const members: Member[] = [];
let host = '127.0.0.1';
let entrySeed = 1;
let closing = false;

async function startNodes(args: {
  specs: NodeSpec[];
  host: string;
  bootstrap: string[];
  sequencerIntervalMs: number;
  /** Nodes sharing each address (a process's namespace): each node's budget of connections per IP. */
  perAddress: number;
}): Promise<StartedNode[]> {
  host = args.host;
  const out: StartedNode[] = [];
  for (const spec of args.specs) {
    if (closing) throw new Error('closing');
    const dir = await mkdtemp(join(tmpdir(), 'trustix-swarm-'));
    if (spec.role !== 'bootstrap') await initDataDir(dir, { name: `swarm-${spec.name}` });
    const node = new TrustixNode({
      dataDir: dir,
      role: spec.role === 'bootstrap' ? 'bootstrap' : 'node',
      http: { host: '127.0.0.1', port: 0 },
      p2p: {
        listen: [`/ip4/${host}/tcp/0`],
        allowList: host === '127.0.0.1' ? ['/ip4/127.0.0.0/ipcidr/8'] : ['/ip4/10.0.0.0/ipcidr/8'],
        // Many nodes share each address (one per process): exempt from gossipsub's IP colocation penalty.
        whitelistIps: host === '127.0.0.1' ? ['127.0.0.1'] : SWARM_ADDRESSES,
        bootstrap: args.bootstrap,
        ...(spec.role === 'bootstrap' && { maxConnections: 1000, gossipPeerExchange: true }),
      },
      // The default budget (8 per IP, 32 per /24; docs/SECURITY.md) is for one node per host: here each
      // address is `perAddress` nodes, each of which may connect to each node.
      connections: {
        maxPerIp: DEFAULT_MAX_CONNECTIONS_PER_IP * args.perAddress,
        maxPerSubnet: Math.max(
          DEFAULT_MAX_CONNECTIONS_PER_SUBNET,
          DEFAULT_MAX_CONNECTIONS_PER_IP * args.perAddress,
        ),
      },
      sequencer: { intervalMs: args.sequencerIntervalMs },
      // TRUSTIX_BENCH_SWARM_UPLOAD_SLOTS, _FANOUT, _PATIENCE_MS (bench/swarm-settings.ts):
      // node/network/upload-slots.ts.
      tiles: {
        uploads: {
          ...(UPLOAD_SLOTS !== undefined && { slots: Number(UPLOAD_SLOTS) }),
          ...(FANOUT !== undefined && { fanout: Number(FANOUT) }),
          ...(PATIENCE_MS !== undefined && { patienceMs: Number(PATIENCE_MS) }),
        },
      },
      follower: {
        retryDelayMs: 500,
        maxRetryDelayMs: 2000,
        // TRUSTIX_BENCH_SWARM_SYNC_JITTER_MS (bench/swarm-settings.ts): the followers' sync start delay, else
        // the default.
        ...(SYNC_JITTER_MS !== undefined && { syncJitterMs: Number(SYNC_JITTER_MS) }),
      },
    });
    await node.start();
    const m: Member = {
      spec,
      node,
      dir,
      socket: join(dir, 'trustix.sock'),
      httpPort: node.httpAddress().port,
      arrivals: new Map(),
      signed: new Map(),
    };
    node.monitor.addEventListener('checkpoint', (e) => {
      const d = (e as CustomEvent<CheckpointEvent>).detail;
      const key = `${d.logId}:${d.checkpoint.size}`;
      if (!m.arrivals.has(key))
        m.arrivals.set(key, {
          at: now(),
          gossip: d.from !== undefined,
          mesh: node.libp2p!.services.pubsub.getMeshPeers(CHECKPOINT_TOPIC).length,
        });
    });
    let vkey: string | undefined;
    if (spec.role === 'builder') {
      const keys = await loadKeys(dir);
      vkey = keys.log.vkey;
      m.logId = node.ownLog.logId;
      node.sequencer.addEventListener('checkpoint', (e) => {
        const { size } = e.detail;
        if (!m.signed.has(size)) m.signed.set(size, now());
      });
    }
    members.push(m);
    const addr = node.libp2p!.getMultiaddrs().find((a) => a.toString().includes(`/ip4/${host}/`))!;
    out.push({
      name: spec.name,
      role: spec.role,
      peerId: node.libp2p!.peerId.toString(),
      addr: addr.toString(),
      ...(vkey && { vkey, logId: m.logId! }),
    });
  }
  return out;
}

function member(name: string): Member {
  const m = members.find((x) => x.spec.name === name);
  if (m === undefined) throw new Error(`no node ${name} here`);
  return m;
}

async function follow(args: { vkeys: string[] }): Promise<void> {
  for (const m of members)
    if (m.spec.role === 'follower')
      for (const [i, vkey] of args.vkeys.entries())
        if (m.node.followed.get(vkey) === undefined)
          await m.node.followed.follow(vkey, { name: `builder-${i}` });
}

/**
 * A builder appends `count` synthetic entries through its control socket; when signed, the size, and
 * how many checkpoints its sequencer signed on the way.
 */
async function append(args: {
  name: string;
  count: number;
}): Promise<{ size: number; signedAt: number; startedAt: number; checkpoints: number }> {
  const m = member(args.name);
  const target = m.node.ownLog.size + args.count;
  const startedAt = now();
  const entries = [...syntheticEntries(args.count, entrySeed++ * 7919 + process.pid)];
  for (let i = 0; i < entries.length; i += 500)
    await submit(
      m.socket,
      entries.slice(i, i + 500).map((entry) => ({ kind: 'entry' as const, entry })),
      // Not what is measured: a process of several nodes on a starved machine may take a while.
      { timeoutMs: 60_000 },
    );
  const deadline = Date.now() + 120_000;
  for (;;) {
    const signedAt = m.signed.get(target);
    if (signedAt !== undefined) {
      const from = target - args.count;
      const checkpoints = [...m.signed.keys()].filter((size) => size > from && size <= target).length;
      return { size: target, signedAt, startedAt, checkpoints };
    }
    if (Date.now() > deadline) throw new Error(`${args.name}: append of ${args.count} not signed in 120 s`);
    await sleep(20);
  }
}

/** A builder's log size. */
function size(args: { name: string }): number {
  return member(args.name).node.ownLog.size;
}

/**
 * Waits until each node here (but `except`) has seen checkpoint `logId:size` at its monitor, or
 * `timeoutMs`; the arrival times (undefined: not seen).
 */
async function arrivals(args: {
  logId: string;
  size: number;
  except: string;
  timeoutMs: number;
}): Promise<({ name: string } & Partial<Arrival>)[]> {
  const key = `${args.logId}:${args.size}`;
  const waiting = members.filter((m) => m.spec.name !== args.except);
  const deadline = Date.now() + args.timeoutMs;
  while (waiting.some((m) => !m.arrivals.has(key)) && Date.now() < deadline) await sleep(20);
  return waiting.map((m) => ({ name: m.spec.name, ...m.arrivals.get(key) }));
}

/** Waits until every follower here holds `size` verified entries of `logId`; when each got there. */
async function synced(args: {
  logId: string;
  size: number;
  timeoutMs: number;
}): Promise<{ name: string; at?: number; state?: string }[]> {
  const followers = members.filter((m) => m.spec.role === 'follower');
  const done = new Map<string, number>();
  const deadline = Date.now() + args.timeoutMs;
  for (;;) {
    for (const m of followers) {
      if (done.has(m.spec.name)) continue;
      const s = m.node.follower?.status(args.logId);
      if (s !== undefined && s.verifiedSize >= args.size) done.set(m.spec.name, now());
    }
    if (done.size === followers.length || Date.now() > deadline) break;
    await sleep(25);
  }
  return followers.map((m) => {
    const at = done.get(m.spec.name);
    if (at !== undefined) return { name: m.spec.name, at };
    const s = m.node.follower?.status(args.logId);
    // Why not: the follow state, what it has and knows of, its sources, and its error or search reason;
    // its connections, DHT routing table and checkpoint mesh.
    if (s === undefined) return { name: m.spec.name, state: 'not followed' };
    const why = s.error?.message ?? s.search?.message;
    const p2p = m.node.libp2p!;
    const net = `${p2p.getConnections().length} connections, routing table ${routingTableSize(p2p)}, mesh ${p2p.services.pubsub.getMeshPeers(CHECKPOINT_TOPIC).length}`;
    return {
      name: m.spec.name,
      state: `${s.state} ${s.verifiedSize}/${s.size} (${s.sources.length} sources${why ? `; ${why}` : ''}; ${net})`,
    };
  });
}

/** kad-dht's routing table size: not in its public interface (KadDHT), read for the bench's diagnosis. */
function routingTableSize(p2p: NonNullable<TrustixNode['libp2p']>): number | undefined {
  return (p2p.services.dht as unknown as { routingTable?: { size?: number } }).routingTable?.size;
}

/** The smallest checkpoint-topic mesh of the nodes here. */
function mesh(): { min: number; median: number } {
  const sizes = members
    .map((m) => m.node.libp2p!.services.pubsub.getMeshPeers(CHECKPOINT_TOPIC).length)
    .sort((a, b) => a - b);
  return { min: sizes[0] ?? 0, median: sizes[Math.floor(sizes.length / 2)] ?? 0 };
}

/** Each node's byte counters, read from its own /metrics over HTTP as an operator would. */
async function traffic(): Promise<NodeTraffic[]> {
  const out: NodeTraffic[] = [];
  for (const m of members) {
    const res = await fetch(`http://127.0.0.1:${m.httpPort}/metrics`, {
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    const byProtocol: Record<string, number> = {};
    const received: Record<string, number> = {};
    for (const match of text.matchAll(
      /^libp2p_data_transfer_bytes_total\{protocol="([^"]+) (sent|received)"\} (\S+)$/gm,
    )) {
      const target = match[2] === 'sent' ? byProtocol : received;
      target[match[1]!] = Number(match[3]);
    }
    out.push({
      name: m.spec.name,
      role: m.spec.role,
      sent: byProtocol['global'] ?? 0,
      received: received['global'] ?? 0,
      // Both versions of the tile exchange (1.1.0 deflates bundles): bytes as sent on the wire.
      tilesSent: TILES_PROTOCOLS.reduce((n, p) => n + (byProtocol[p] ?? 0), 0),
      tilesReceived: TILES_PROTOCOLS.reduce((n, p) => n + (received[p] ?? 0), 0),
      byProtocol,
    });
  }
  return out;
}

/** This process's resources: RSS, CPU time so far (µs), and how many nodes share them. */
function usage(): { rss: number; cpuMicros: number; nodes: number } {
  const { user, system } = process.cpuUsage();
  return { rss: process.memoryUsage().rss, cpuMicros: user + system, nodes: members.length };
}

/**
 * A fresh libp2p node (new identity, empty routing table) joins through `bootstrap` and looks up the
 * providers of `logId` in the DHT: the time from start until the first provider is known.
 */
async function freshProvider(args: { bootstrap: string[]; logId: string; timeoutMs: number }) {
  const started = now();
  const node = await createLibp2pNode({
    listen: [`/ip4/${host}/tcp/0`],
    allowList: host === '127.0.0.1' ? ['/ip4/127.0.0.0/ipcidr/8'] : ['/ip4/10.0.0.0/ipcidr/8'],
    bootstrap: args.bootstrap,
  });
  const providers = new LogProviders(
    { contentRouting: node.contentRouting, dhts: [], peerId: node.peerId },
    { maxProviders: 1, findTimeoutMs: 5_000 },
  );
  try {
    const deadline = Date.now() + args.timeoutMs;
    let tries = 0;
    for (;;) {
      tries++;
      const found = await providers.findProviders(args.logId).catch(() => []);
      if (found.length > 0) return { ms: now() - started, tries };
      if (Date.now() > deadline) return { ms: undefined, tries };
      await sleep(100);
    }
  } finally {
    await node.stop();
  }
}

async function stopAll(): Promise<void> {
  for (const m of members.splice(0)) {
    await m.node.stop().catch(() => {});
    await rm(m.dir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const ops: Record<string, (args: never) => unknown> = {
  start: startNodes,
  follow,
  append,
  size,
  arrivals,
  synced,
  mesh,
  traffic,
  usage,
  freshProvider,
  stop: stopAll,
};

process.on('message', (msg: { id: number; op: string }) => {
  const { id, op, ...args } = msg;
  Promise.resolve()
    .then(() => ops[op]!(args as never))
    .then(
      (result) => process.send!({ id, ok: true, result }),
      (err: unknown) => process.send!({ id, ok: false, error: String((err as Error)?.stack ?? err) }),
    );
});
// The parent is gone (finished, or killed): stop the nodes, and exit within 20 s whatever they do.
process.on('disconnect', () => {
  closing = true;
  setTimeout(() => process.exit(1), 20_000).unref();
  stopAll().finally(() => process.exit(0));
});
process.send!({ id: 0, ok: true, result: 'ready' });
