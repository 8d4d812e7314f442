/**
 * `npm run bench -- internet`: Trustix beyond loopback, in the namespace lab of the tests
 * (test/helpers/netns.ts; needs root, `ip` and `nft`). Two set-ups, each with a public node (DHT server,
 * gossip, circuit relay) on a public segment:
 * - relayed: a builder behind NAT A and a user behind NAT B (nft masquerade, inbound dropped), who know
 *   only the public node; every byte between them goes through its relay;
 * - webrtc: the relayed set-up plus WebRTC on both homes, with the public node as their STUN server (it
 *   answers STUN on its TCP port, node/network/stun-responder.ts, and the homes default to their bootstrap
 *   peers for STUN): they meet through the relay, then punch a direct WebRTC connection;
 * - direct: the same builder and user on the public segment itself, the baseline of the same run.
 * Measured per set-up: time from a node's start to its first relay reservation (NATed nodes), time from
 * `follow` to the first checkpoint of the builder's log (found through the DHT provider record on the
 * public node, or its gossip), time from `follow` to the direct WebRTC connection (webrtc), and time from
 * `follow` to a verified copy of ENTRIES entries (entries/s); then the relayed/direct and webrtc/direct
 * ratios. Every node is a separate process inside its namespace, under
 * TRUSTIX_LOCAL_ONLY; the lab is torn down in every outcome. The machine's load average is reported
 * beside the figures: on 2 shared cores it dominates them.
 *
 * TRUSTIX_BENCH_INTERNET_ENTRIES (default 10,000) and TRUSTIX_BENCH_INTERNET_RUNS (default 1) size it.
 * Links carry no added latency: this project's VM kernels lack sch_netem (the tests say which case ran).
 */
import { loadavg } from 'node:os';
import type { Reachability } from '../node/index.ts';
import { NetLab, type Netns, netnsUnavailable, type Segment } from '../test/helpers/netns.ts';
import type { ConnectionReport } from '../test/helpers/netns-node.ts';
import { labIdentity, type NetnsNode, startNetnsNode } from '../test/helpers/netns-trustix.ts';
import { syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { type Measurement, median, suiteResult } from './harness.ts';

const ENTRIES = Number(process.env['TRUSTIX_BENCH_INTERNET_ENTRIES'] ?? 10_000);
const RUNS = Number(process.env['TRUSTIX_BENCH_INTERNET_RUNS'] ?? 1);
const LISTEN = ['/ip4/0.0.0.0/tcp/4001'];
/** How often a figure with no event of its own (a reservation, a first checkpoint) is looked at. */
const POLL_MS = 50;
const KINDS = ['relayed', 'webrtc', 'direct'] as const;
type Kind = (typeof KINDS)[number];

interface RunFigures {
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
}

export async function run() {
  const unavailable = netnsUnavailable(['nft']);
  const loadBefore = loadavg();
  const measurements: Measurement[] = [];
  if (unavailable !== undefined) {
    process.stderr.write(`internet benchmark skipped: ${unavailable}\n`);
    return suiteResult('internet', measurements);
  }
  const entries = [...syntheticEntries(ENTRIES, 15)];
  const figures: Record<Kind, RunFigures[]> = { relayed: [], webrtc: [], direct: [] };
  for (let i = 0; i < RUNS; i++) for (const kind of KINDS) figures[kind].push(await once(kind, entries));

  const load = { loadBefore: round2(loadBefore), loadAfter: round2(loadavg()), links: 'no added latency' };
  const reservations = figures.relayed.flatMap((f) => f.reservationMs ?? []);
  const directMs = figures.webrtc.flatMap((f) => f.directMs ?? []);
  measurements.push({
    name: 'NATed node start -> first relay reservation',
    median: Math.round(median(reservations)),
    max: Math.round(Math.max(...reservations)),
    unit: 'ms',
    runs: reservations.length,
    ...load,
  });
  measurements.push({
    name: 'follow -> direct WebRTC connection (relayed first)',
    median: Math.round(median(directMs)),
    max: Math.round(Math.max(...directMs)),
    unit: 'ms',
    runs: directMs.length,
    ...load,
  });
  for (const kind of KINDS) {
    const f = figures[kind];
    measurements.push({
      name: `follow -> builder's first checkpoint known (${kind})`,
      median: Math.round(median(f.map((x) => x.findMs))),
      unit: 'ms',
      runs: f.length,
      target: kind === 'relayed' ? 'first Trustix peer <= 10 s' : undefined,
      ...load,
    });
    measurements.push({
      name: `follow -> verified copy of ${ENTRIES} entries (${kind})`,
      median: Math.round(median(f.map((x) => ENTRIES / (x.syncMs / 1000)))),
      medianMs: Math.round(median(f.map((x) => x.syncMs))),
      unit: 'entries/s',
      runs: f.length,
      // How the user reached the builder in each run (every connection through the relay, or not).
      paths: f.map((x) => x.path),
      ...load,
    });
  }
  const rate = (kind: Kind) => median(figures[kind].map((x) => ENTRIES / (x.syncMs / 1000)));
  for (const kind of ['relayed', 'webrtc'] as const)
    measurements.push({
      name: `${kind} / direct sync rate`,
      median: round2([rate(kind) / rate('direct')])[0]!,
      unit: 'ratio',
      runs: RUNS,
      ...load,
    });
  return suiteResult('internet', measurements);
}

/** One set-up, built, measured and torn down. */
async function once(kind: Kind, entries: readonly string[]): Promise<RunFigures> {
  const natted = kind !== 'direct';
  const lab = await NetLab.create();
  try {
    const pub = await lab.segment('pub');
    const bootNs = await lab.namespace('boot');
    await pub.attach(bootNs, '10.50.0.2/24');
    const builderNs = await lab.namespace('builder');
    const userNs = await lab.namespace('user');
    if (natted) {
      await home(lab, pub, 'A', 11, builderNs);
      await home(lab, pub, 'B', 12, userNs);
    } else {
      await pub.attach(builderNs, '10.50.0.21/24');
      await pub.attach(userNs, '10.50.0.22/24');
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
    const started = performance.now();
    await user.node.request({ cmd: 'follow', vkey: builder.node.info.vkey! });
    // Polled through `synced` with size 1: the first checkpoint makes the log leave `searching`.
    const direct =
      kind === 'webrtc'
        ? user.node
            .request({ cmd: 'direct', peer: builder.node.info.peerId, timeoutMs: 600_000 })
            .then(() => performance.now())
        : undefined;
    const found = await firstCheckpoint(user.node, logId);
    await user.node.request({ cmd: 'synced', logId, size: entries.length, timeoutMs: 600_000 });
    const syncMs = performance.now() - started;
    const directAt = await direct;
    const connections = await user.node.request<ConnectionReport[]>({ cmd: 'connections' });
    const toBuilder = connections.filter((c) => c.peer === builder.node.info.peerId);
    return {
      ...(reservationMs && { reservationMs }),
      ...(directAt !== undefined && { directMs: directAt - started }),
      findMs: found - started,
      syncMs,
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

/** A home behind its own NAT router (`10.50.0.<wan>` on the public segment) holding `host`. */
async function home(lab: NetLab, pub: Segment, name: string, wan: number, host: Netns): Promise<void> {
  const lan = await lab.segment(`home${name}`);
  await lab.natRouter(`nat${name}`, pub, `10.50.0.${wan}/24`, lan, `192.168.${wan}.1/24`);
  await lan.attach(host, `192.168.${wan}.2/24`, { gateway: `192.168.${wan}.1` });
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

function round2(values: readonly number[]): number[] {
  return values.map((v) => Math.round(v * 100) / 100);
}
