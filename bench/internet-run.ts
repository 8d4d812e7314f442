/**
 * One set-up of the internet benchmark (bench/internet.ts): the namespace lab built (a public node, the
 * builder and the user behind NATs or on the public segment, a fresh node and a light node beside the
 * user), each node a process of its own, measured in order (relay reservations, the first checkpoint,
 * the sync, the propagation rounds, the fresh node's first checkpoint, the light node's lookups) and torn
 * down in every outcome; the result is the report's record (RunFigures, bench/internet-report.ts).
 */
import type { Reachability } from '../node/index.ts';
import { parseStorePath } from '../protocol/index.ts';
import type { EmulatorStats } from '../test/helpers/link-emulator.ts';
import { NetLab, type Netns, type Segment } from '../test/helpers/netns.ts';
import type { ConnectionReport } from '../test/helpers/netns-node.ts';
import { labIdentity, type NetnsNode, startNetnsNode } from '../test/helpers/netns-trustix.ts';
import { syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { type Kind, LOOKUPS, ROUNDS, SHAPE } from './internet-settings.ts';

const LISTEN = ['/ip4/0.0.0.0/tcp/4001'];
/** The light node shares the fresh node's namespace: another port. */
const LIGHT_LISTEN = ['/ip4/0.0.0.0/tcp/4002'];
/** How often a figure with no event of its own (a reservation, a first checkpoint) is looked at. */
const POLL_MS = 50;

export interface RunFigures {
  /** Start of the builder's and the user's node to their first relay reservation (NATed only). */
  readonly reservationMs?: readonly number[];
  /** `follow` to the first checkpoint of the builder's log known to the user. */
  readonly findMs: number;
  /** `follow` to a verified copy of every entry. */
  readonly syncMs: number;
  /** `follow` to the first direct WebRTC connection to the builder (webrtc only). */
  readonly directMs?: number;
  /** How the user reached the builder: every connection through the relay, over WebRTC, or direct. */
  readonly path: 'relayed' | 'webrtc' | 'direct';
  /** Builder's submission of one entry -> the user knows a checkpoint holding it, per round. */
  readonly propagationMs: readonly number[];
  /** A fresh node (beside the user) started, told to follow, to its first checkpoint of the log. */
  readonly freshMs: number;
  /** The same from the fresh node's `ready` (without its process's start-up). */
  readonly freshReadyMs: number;
  /**
   * A light node beside the user, following the log light: its lookups of the log's paths, one at a
   * time (ms each), and the lookup exchanges they took in all (the builder and the user hold the log).
   */
  readonly lookupMs: readonly number[];
  readonly lookupExchanges: number;
  /** CPU time of the user's and the builder's node processes from `follow` to the verified copy (ms). */
  readonly syncCpuMs: { readonly user: number; readonly builder: number };
  /** How the links were shaped, and the emulator's CPU time during the sync (tap only). */
  readonly shaper: string;
  readonly emulator?: { readonly cpuMs: number; readonly frames: number };
}

/** One set-up, built, measured and torn down. */
export async function once(kind: Kind, entries: readonly string[]): Promise<RunFigures> {
  const natted = kind !== 'direct';
  const lab = await NetLab.create();
  try {
    const pub = await lab.segment('pub');
    const shaper = SHAPE ? await lab.shaper() : 'none';
    const bootNs = await lab.namespace('boot');
    await pub.attach(bootNs, '10.50.0.2/24', { shape: SHAPE });
    const builderNs = await lab.namespace('builder');
    const userNs = await lab.namespace('user');
    const freshNs = await lab.namespace('fresh');
    if (natted) {
      await home(lab, pub, 'A', 11, [builderNs]);
      await home(lab, pub, 'B', 12, [userNs, freshNs]);
    } else {
      await pub.attach(builderNs, '10.50.0.21/24', { shape: SHAPE });
      await pub.attach(userNs, '10.50.0.22/24', { shape: SHAPE });
      await pub.attach(freshNs, '10.50.0.23/24', { shape: SHAPE });
    }
    const bootId = await labIdentity(lab, 'boot');
    const bootstrap = [`/ip4/10.50.0.2/tcp/4001/p2p/${bootId.peerId}`];
    const p2p = {
      listen: LISTEN,
      bootstrap,
      dhtClientMode: natted ? ('auto' as const) : false,
      relayReservations: natted ? 2 : 0,
      redial: { interval: 250, maxInterval: 2000 },
      // No STUN server named: the bootstrap node's address is the default one.
      ...(kind === 'webrtc' && { webrtc: true }),
    };
    const timed = async (start: Promise<NetnsNode>) => ({ node: await start, at: performance.now() });
    const [, builder, user] = await Promise.all([
      startNetnsNode(lab, bootNs, {
        role: 'bootstrap',
        dataDir: bootId.dataDir,
        p2p: { listen: LISTEN, dhtClientMode: false, relayServer: true, gossipPeerExchange: true },
      }),
      timed(startNetnsNode(lab, builderNs, { role: 'node', name: 'mercury', p2p })),
      timed(startNetnsNode(lab, userNs, { role: 'node', name: 'alice', p2p })),
    ]);
    const reservationMs = natted
      ? await Promise.all([builder, user].map(async (n) => (await reserved(n.node)) - n.at))
      : undefined;
    const logId = builder.node.info.logId!;
    await builder.node.request({ cmd: 'publish', entries: [...entries] });
    const cpu = () =>
      Promise.all([user.node.request<number>({ cmd: 'cpu' }), builder.node.request<number>({ cmd: 'cpu' })]);
    const cpuBefore = await cpu();
    const started = performance.now();
    await user.node.request({ cmd: 'follow', vkey: builder.node.info.vkey! });
    // Polled through `synced` with size 1: the first checkpoint makes the log leave `searching`.
    const direct =
      kind === 'webrtc'
        ? user.node
            .request({ cmd: 'direct', peer: builder.node.info.peerId, timeoutMs: 600_000 })
            .then(() => performance.now())
        : undefined;
    const emulatorBefore = await lab.emulatorStats();
    const found = await firstCheckpoint(user.node, logId);
    await user.node.request({ cmd: 'synced', logId, size: entries.length, timeoutMs: 600_000 });
    const syncMs = performance.now() - started;
    const cpuAfter = await cpu();
    const emulatorAfter = await lab.emulatorStats();
    const propagationMs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const size = entries.length + i + 1;
      const known = user.node.request({ cmd: 'known', logId, size, timeoutMs: 120_000 });
      const submitted = performance.now();
      await builder.node.request({ cmd: 'publish', entries: [...syntheticEntries(1, 1_000_000 + size)] });
      await known;
      propagationMs.push(performance.now() - submitted);
    }
    // A fresh node next to the user, knowing only the public node: to its first Trustix peer, i.e. the
    // first checkpoint of the builder's log it follows (found through the DHT or gossip).
    const freshStart = performance.now();
    const fresh = await startNetnsNode(lab, freshNs, { role: 'node', name: 'bob', p2p });
    const freshReady = performance.now();
    await fresh.request({ cmd: 'follow', vkey: builder.node.info.vkey! });
    await firstCheckpoint(fresh, logId);
    const freshAt = performance.now();
    // A light node beside the user, knowing only the public node: its lookups, once its log is verified.
    const light = await startNetnsNode(lab, freshNs, {
      role: 'node',
      name: 'carol',
      p2p: { ...p2p, listen: LIGHT_LISTEN },
    });
    await light.request({ cmd: 'follow', vkey: builder.node.info.vkey!, light: true });
    const hashParts = entries
      .filter((_, i) => i % Math.max(1, Math.floor(entries.length / LOOKUPS)) === 0)
      .slice(0, LOOKUPS)
      .map((e) => parseStorePath(e.split(';')[1]!).hashPart);
    const lookups = await light.request<{ ms: number[]; found: number; exchanges: number }>({
      cmd: 'lookups',
      logId,
      size: entries.length,
      hashParts,
      timeoutMs: 120_000,
    });
    if (lookups.found !== hashParts.length)
      throw new Error(`the light node found ${lookups.found} of ${hashParts.length} paths`);
    const directAt = await direct;
    const connections = await user.node.request<ConnectionReport[]>({ cmd: 'connections' });
    const toBuilder = connections.filter((c) => c.peer === builder.node.info.peerId);
    return {
      ...(reservationMs && { reservationMs }),
      ...(directAt !== undefined && { directMs: directAt - started }),
      findMs: found - started,
      syncMs,
      syncCpuMs: { user: cpuAfter[0] - cpuBefore[0], builder: cpuAfter[1] - cpuBefore[1] },
      propagationMs,
      freshMs: freshAt - freshStart,
      freshReadyMs: freshAt - freshReady,
      lookupMs: lookups.ms,
      lookupExchanges: lookups.exchanges,
      shaper,
      ...(emulatorBefore &&
        emulatorAfter && {
          emulator: {
            cpuMs: emulatorAfter.cpuMs - emulatorBefore.cpuMs,
            frames: frames(emulatorAfter) - frames(emulatorBefore),
          },
        }),
      path: toBuilder.some((c) => c.remoteAddr.includes('/webrtc'))
        ? 'webrtc'
        : toBuilder.length > 0 && toBuilder.every((c) => c.relayed)
          ? 'relayed'
          : 'direct',
    };
  } finally {
    await lab.teardown();
  }
}

/** A home behind its own NAT router (`10.50.0.<wan>` on the public segment) holding `hosts`. */
async function home(lab: NetLab, pub: Segment, name: string, wan: number, hosts: Netns[]): Promise<void> {
  const lan = await lab.segment(`home${name}`);
  await lab.natRouter(`nat${name}`, pub, `10.50.0.${wan}/24`, lan, `192.168.${wan}.1/24`);
  for (const [i, host] of hosts.entries())
    await lan.attach(host, `192.168.${wan}.${i + 2}/24`, { gateway: `192.168.${wan}.1`, shape: SHAPE });
}

/** When `node` first holds a relay reservation (performance.now()). */
async function reserved(node: NetnsNode): Promise<number> {
  for (;;) {
    const r = await node.request<Reachability>({ cmd: 'reachability' });
    if (r.relays >= 1) return performance.now();
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** When the user first knows a checkpoint of the log (performance.now()). */
async function firstCheckpoint(node: NetnsNode, logId: string): Promise<number> {
  await node.request({ cmd: 'known', logId, timeoutMs: 600_000 });
  return performance.now();
}

/** Frames the emulator forwarded, all links and directions. */
function frames(stats: EmulatorStats): number {
  return Object.values(stats.pairs).reduce((n, p) => n + p.ab.forwarded + p.ba.forwarded, 0);
}
