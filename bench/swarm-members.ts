/**
 * The nodes a worker process of the swarm benchmark hosts (bench/swarm-worker.ts), its members: each a
 * real TrustixNode with its data directory, control socket and HTTP port, and what its monitor and
 * sequencer saw (checkpoint arrivals, signed sizes); their start with the benchmark's settings and their
 * stop. Apart from the worker's requests because every request reads the members, and the parent's
 * modules (bench/swarm-placement.ts, bench/swarm-run.ts) use what a start takes and answers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initDataDir, loadKeys } from '../node/client.ts';
import type { CheckpointEvent } from '../node/index.ts';
import {
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_CONNECTIONS_PER_SUBNET,
  TrustixNode,
} from '../node/index.ts';
import { CHECKPOINT_TOPIC } from '../protocol/index.ts';
import { SWARM_ADDRESSES } from './swarm-addresses.ts';
import { now } from './swarm-clock.ts';

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

/** A checkpoint's arrival at a node's monitor. */
export interface Arrival {
  readonly at: number;
  /** Whether it came by gossip (else by checkpoint catch-up or a sync). */
  readonly gossip: boolean;
  /** The node's checkpoint-topic mesh peers then. */
  readonly mesh: number;
}

export interface Member {
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
export const members: Member[] = [];
/**
 * The one host address the members listen on (127.0.0.1, or the process's network namespace's; given at
 * start), and whether the worker is closing (its parent is gone: no more members start).
 */
export const hosting = { host: '127.0.0.1', closing: false };

export async function startNodes(args: {
  specs: NodeSpec[];
  host: string;
  bootstrap: string[];
  sequencerIntervalMs: number;
  /** Nodes sharing each address (a process's namespace): each node's budget of connections per IP. */
  perAddress: number;
}): Promise<StartedNode[]> {
  hosting.host = args.host;
  const out: StartedNode[] = [];
  for (const spec of args.specs) {
    if (hosting.closing) throw new Error('closing');
    const dir = await mkdtemp(join(tmpdir(), 'trustix-swarm-'));
    if (spec.role !== 'bootstrap') await initDataDir(dir, { name: `swarm-${spec.name}` });
    const node = new TrustixNode({
      dataDir: dir,
      role: spec.role === 'bootstrap' ? 'bootstrap' : 'node',
      http: { host: '127.0.0.1', port: 0 },
      p2p: {
        listen: [`/ip4/${hosting.host}/tcp/0`],
        allowList: hosting.host === '127.0.0.1' ? ['/ip4/127.0.0.0/ipcidr/8'] : ['/ip4/10.0.0.0/ipcidr/8'],
        // Many nodes share each address (one per process): exempt from gossipsub's IP colocation penalty.
        whitelistIps: hosting.host === '127.0.0.1' ? ['127.0.0.1'] : SWARM_ADDRESSES,
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
    const addr = node.libp2p!.getMultiaddrs().find((a) => a.toString().includes(`/ip4/${hosting.host}/`))!;
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

export function member(name: string): Member {
  const m = members.find((x) => x.spec.name === name);
  if (m === undefined) throw new Error(`no node ${name} here`);
  return m;
}

export async function stopAll(): Promise<void> {
  for (const m of members.splice(0)) {
    await m.node.stop().catch(() => {});
    await rm(m.dir, { recursive: true, force: true });
  }
}
