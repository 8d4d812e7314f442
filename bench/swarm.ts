/**
 * `npm run bench -- swarm`: a swarm of N real Trustix nodes on one machine (docs/SCALE.md): K builders
 * publishing real entries, B bootstrap nodes, the rest full followers of every builder. Nodes run several
 * to a process (bench/swarm-worker.ts; an idle node process costs ~120 MB), processes on loopback or each
 * in a network namespace of its own on one bridge (bench/swarm-network.ts), with 40 ms ± 10 ms latency and 0.5% loss on every
 * namespace's link (tc netem where the kernel has sch_netem, else the TAP link emulator of
 * test/helpers/link-emulator.ts, one process for all links). For each N it measures:
 * checkpoint propagation builder -> every node; a 10,000-entry append until every follower holds it
 * verified, and who served the tile bytes; per-node traffic idle and with every builder publishing
 * every 2 s; a fresh node's time to its first DHT provider; RSS and CPU per node.
 *
 * Settings (environment): TRUSTIX_BENCH_SWARM_N (default "25,50,100,200"), TRUSTIX_BENCH_SWARM_NET
 * ("loopback", "netns" or both, default "loopback,netns"), TRUSTIX_BENCH_SWARM_NETNS_N (N for the
 * namespace runs, default the same list), TRUSTIX_BENCH_SWARM_PER_PROCESS (nodes per process, default
 * 25), TRUSTIX_BENCH_SWARM_BUILDERS (K, default 5), TRUSTIX_BENCH_SWARM_BOOTSTRAP (default 3),
 * TRUSTIX_BENCH_SWARM_ROUNDS (propagation rounds, default 20), TRUSTIX_BENCH_SWARM_WINDOW_S (traffic
 * windows, default 30), TRUSTIX_BENCH_SWARM_APPEND (default 10,000), TRUSTIX_BENCH_SWARM_SYNC_JITTER_MS
 * (the followers' sync.syncJitterMs, default the node's), TRUSTIX_BENCH_SWARM_UPLOAD_SLOTS and
 * TRUSTIX_BENCH_SWARM_FANOUT (every node's tiles.uploadSlots and tiles.fanout, default the node's),
 * TRUSTIX_BENCH_SWARM_PATIENCE_MS (how long a builder refuses a peer past its fan-out, UploadSlotsInit),
 * TRUSTIX_BENCH_SWARM_SEQUENCER_MS (the builders' sequencer interval, default 100).
 */
import { loadavg } from 'node:os';
import { netnsUnavailable } from '../test/helpers/netns.ts';
import { type Measurement, median, percentile, suiteResult } from './harness.ts';
import { loopback, type Network, namespaces, SHAPE_TEXT, type Worker } from './swarm-network.ts';
import type { Arrival, NodeSpec, NodeTraffic, StartedNode } from './swarm-worker.ts';

const env = (name: string, fallback: string) => process.env[`TRUSTIX_BENCH_SWARM_${name}`] ?? fallback;
const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const SIZES = list(env('N', '25,50,100,200')).map(Number);
const NETS = list(env('NET', 'loopback,netns'));
const NETNS_SIZES = list(env('NETNS_N', SIZES.join(','))).map(Number);
const PER_PROCESS = Number(env('PER_PROCESS', '25'));
const K = Number(env('BUILDERS', '5'));
const B = Number(env('BOOTSTRAP', '3'));
const ROUNDS = Number(env('ROUNDS', '20'));
const WINDOW_S = Number(env('WINDOW_S', '30'));
const APPEND = Number(env('APPEND', '10000'));
/**
 * The builders' sequencer interval (SequencerInit.intervalMs), in ms. Default 100, as in every run
 * before; the node's own default is 500, which batches more of an append's submissions a checkpoint.
 */
const SEQUENCER_MS = Number(env('SEQUENCER_MS', '100'));
/** Every builder publishes one entry this often in the busy window (the "every 2 s"). */
const PUBLISH_EVERY_MS = 2_000;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const round1 = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(1)) : x);

/** How the namespace links were shaped, once a namespace run has looked. */
let shaperFound: 'netem' | 'tap' | undefined;

interface Placed extends StartedNode {
  readonly worker: Worker;
}

interface SwarmRun {
  net: string;
  links: string;
  n: number;
  processes: number;
  nodesPerProcess: number;
  load: { before: number[]; after: number[] };
  /** Follower-log pairs not synced within 60 s of following a seeded log. */
  seedNotSynced: number;
  propagation: {
    deliveryMs: { median: number; p95: number; p99: number };
    allNodesMs: { median: number; p95: number; p99: number };
    rounds: number;
    deliveries: number;
    missing: number;
    /** Deliveries over 1 s: how many came by gossip, the nodes' meshes then, and the nodes most often late. */
    slow: { count: number; byGossip: number; meshMedian: number | null; nodes: Record<string, number> };
  };
  append: {
    entries: number;
    allVerifiedS: number | null;
    medianVerifiedS: number | null;
    fromSubmitS: number | null;
    /** Checkpoints the builder signed for the append (one per sequencer batch). */
    checkpoints: number;
    notVerified: number;
    builderShare: number;
    bootstrapShare: number;
    followerShare: number;
    tileBytes: number;
  };
  traffic: {
    idle: TrafficSummary;
    busy: TrafficSummary;
  };
  dhtFirstProviderMs: { median: number; max: number; missing: number };
  perNode: { rssMb: number; cpuIdlePercent: number; cpuBusyPercent: number };
}

interface TrafficSummary {
  /** Per-node bytes/s out and in, over the followers (median and max) and the bootstrap nodes (max). */
  outMedian: number;
  inMedian: number;
  outMax: number;
  inMax: number;
  bootstrapOutMax: number;
  bootstrapInMax: number;
  builderOutMax: number;
  /** Share of the bytes sent per protocol (stream payload), over all nodes. */
  byProtocol: Record<string, number>;
}

function summarize(before: NodeTraffic[], after: NodeTraffic[], seconds: number): TrafficSummary {
  const was = new Map(before.map((t) => [t.name, t]));
  const rates = after.map((t) => {
    const b = was.get(t.name)!;
    return { role: t.role, out: (t.sent - b.sent) / seconds, in: (t.received - b.received) / seconds };
  });
  const of = (role: string) => rates.filter((r) => r.role === role);
  const protocols: Record<string, number> = {};
  for (const t of after)
    for (const [p, v] of Object.entries(t.byProtocol))
      if (p !== 'global') protocols[p] = (protocols[p] ?? 0) + v - (was.get(t.name)!.byProtocol[p] ?? 0);
  const total = Object.values(protocols).reduce((a, b) => a + b, 0) || 1;
  const max = (xs: number[]) => Math.round(Math.max(0, ...xs));
  return {
    outMedian: Math.round(median(of('follower').map((r) => r.out))),
    inMedian: Math.round(median(of('follower').map((r) => r.in))),
    outMax: max(of('follower').map((r) => r.out)),
    inMax: max(of('follower').map((r) => r.in)),
    bootstrapOutMax: max(of('bootstrap').map((r) => r.out)),
    bootstrapInMax: max(of('bootstrap').map((r) => r.in)),
    builderOutMax: max(of('builder').map((r) => r.out)),
    byProtocol: Object.fromEntries(
      Object.entries(protocols)
        .filter(([, v]) => v / total >= 0.005)
        .sort((a, b) => b[1] - a[1])
        .map(([p, v]) => [p, Number((v / total).toFixed(3))]),
    ),
  };
}

async function all<T>(workers: Worker[], op: string, args: Record<string, unknown> = {}, timeoutMs?: number) {
  return (await Promise.all(workers.map((w) => w.request<T[]>(op, args, timeoutMs)))).flat();
}

async function usage(workers: Worker[]) {
  return Promise.all(
    workers.map((w) => w.request<{ rss: number; cpuMicros: number; nodes: number }>('usage')),
  );
}

function cpuPercentPerNode(
  before: { cpuMicros: number; nodes: number }[],
  after: { cpuMicros: number; nodes: number }[],
  seconds: number,
): number {
  const micros = after.reduce((s, u, i) => s + u.cpuMicros - before[i]!.cpuMicros, 0);
  const nodes = after.reduce((s, u) => s + u.nodes, 0);
  return round1((micros / 1e6 / seconds / nodes) * 100);
}

async function runSwarm(n: number, net: Network): Promise<SwarmRun> {
  const loadBefore = loadavg().map(round1);
  const count = Math.ceil(n / PER_PROCESS);
  const say = (what: string) => process.stderr.write(`swarm ${net.name} N=${n}: ${what}\n`);
  say(`starting ${count} processes`);
  const workers = await net.workers(count);
  const specs: NodeSpec[] = [
    ...Array.from({ length: B }, (_, i) => ({ name: `bootstrap-${i}`, role: 'bootstrap' as const })),
    ...Array.from({ length: K }, (_, i) => ({ name: `builder-${i}`, role: 'builder' as const })),
    ...Array.from({ length: n - B - K }, (_, i) => ({ name: `follower-${i}`, role: 'follower' as const })),
  ];
  const byWorker = workers.map(() => [] as NodeSpec[]);
  // Bootstrap nodes in process 0 (started first: their addresses are everyone's bootstrap list), the
  // builders spread over the other processes (a builder sharing its event loop with the bootstrap nodes,
  // which every node talks to, served its tiles late: at N = 25 in namespaces its seed did not sync
  // within 60 s), the followers dealt round all.
  let k = 0;
  for (const [i, s] of specs.entries()) {
    const w =
      s.role === 'bootstrap' ? 0 : s.role === 'builder' && count > 1 ? 1 + (k++ % (count - 1)) : i % count;
    byWorker[w]!.push(s);
  }
  const boot = byWorker[0]!.filter((s) => s.role === 'bootstrap');
  const placed: Placed[] = [];
  const startedBoot = await workers[0]!.request<StartedNode[]>('start', {
    specs: boot,
    host: workers[0]!.host,
    bootstrap: [],
    sequencerIntervalMs: SEQUENCER_MS,
    perAddress: PER_PROCESS,
  });
  placed.push(...startedBoot.map((s) => ({ ...s, worker: workers[0]! })));
  // libp2p prints its addresses with the peer ID: `addr` already ends in /p2p/<PeerId>.
  const bootstrap = startedBoot.map((s) => s.addr);
  const rest = await Promise.all(
    workers.map(async (w, i) => {
      const mine = byWorker[i]!.filter((s) => s.role !== 'bootstrap');
      const started = await w.request<StartedNode[]>('start', {
        specs: mine,
        host: w.host,
        bootstrap,
        sequencerIntervalMs: SEQUENCER_MS,
        perAddress: PER_PROCESS,
      });
      return started.map((s) => ({ ...s, worker: w }));
    }),
  );
  placed.push(...rest.flat());
  const builders = placed.filter((p) => p.role === 'builder');
  say(`${placed.length} nodes up; seeding the builders' logs and following them`);

  // The gossip mesh first: a checkpoint published before a node has mesh peers reaches it only later.
  const meshDeadline = Date.now() + 60_000;
  for (;;) {
    const meshes = await Promise.all(workers.map((w) => w.request<{ min: number }>('mesh')));
    if (Math.min(...meshes.map((m) => m.min)) >= 2 || Date.now() > meshDeadline) break;
    await sleep(500);
  }
  await sleep(3_000);
  // Each builder's log starts with 100 entries every follower syncs before anything is measured.
  // Followed first, so the seeds' checkpoints reach followers as news (gossip -> sync).
  await Promise.all(workers.map((w) => w.request('follow', { vkeys: builders.map((b) => b.vkey) })));
  const seeded = await Promise.all(
    builders.map((b) => b.worker.request<{ size: number }>('append', { name: b.name, count: 100 })),
  );
  let seedBehind = 0;
  for (const [i, b] of builders.entries()) {
    const got = await all<{ at?: number; state?: string }>(workers, 'synced', {
      logId: b.logId,
      size: seeded[i]!.size,
      timeoutMs: 60_000,
    });
    const behind = got.filter((g) => g.at === undefined).map((g) => g.state);
    seedBehind += behind.length;
    if (behind.length > 0)
      say(
        `warning: ${behind.length} followers did not sync ${b.name}'s seed within 60 s: ${behind.join(', ')}`,
      );
  }

  /** Waits (up to 60 s a log) until every follower holds each builder's log as signed last. */
  const settle = async () => {
    for (const b of builders) {
      const size = await b.worker.request<number>('size', { name: b.name });
      await all(workers, 'synced', { logId: b.logId, size, timeoutMs: 60_000 });
    }
  };

  // Propagation: one entry at a time, the builders in turn; per delivery, signed -> monitor accepted.
  say(`propagation, ${ROUNDS} rounds`);
  const deliveries: number[] = [];
  const toAll: number[] = [];
  const slow: ({ name: string } & Arrival)[] = [];
  let missing = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const b = builders[r % builders.length]!;
    const { size, signedAt } = await b.worker.request<{ size: number; signedAt: number }>('append', {
      name: b.name,
      count: 1,
    });
    const got = await all<{ name: string } & Partial<Arrival>>(workers, 'arrivals', {
      logId: b.logId,
      size,
      except: b.name,
      timeoutMs: 10_000,
    });
    const times = got.filter((g) => g.at !== undefined).map((g) => g.at! - signedAt);
    missing += got.length - times.length;
    for (const g of got)
      if (g.at !== undefined && g.at - signedAt > 1_000) slow.push(g as { name: string } & Arrival);
    deliveries.push(...times);
    if (times.length === got.length) toAll.push(Math.max(...times));
    await sleep(300);
  }

  // Idle traffic, CPU and memory at rest: once every follower holds every log's newest entries.
  await settle();
  say(`idle window, ${WINDOW_S} s`);
  await sleep(3_000);
  const idle0 = await all<NodeTraffic>(workers, 'traffic');
  const idleUse0 = await usage(workers);
  const idleStart = now();
  await sleep(WINDOW_S * 1000);
  const idle1 = await all<NodeTraffic>(workers, 'traffic');
  const idleUse1 = await usage(workers);
  const idleSeconds = (now() - idleStart) / 1000;

  // Busy: every builder publishes one entry every 2 s.
  say(`busy window, ${WINDOW_S} s, ${builders.length} builders publishing every ${PUBLISH_EVERY_MS} ms`);
  const busy0 = await all<NodeTraffic>(workers, 'traffic');
  const busyUse0 = await usage(workers);
  const busyStart = now();
  while (now() - busyStart < WINDOW_S * 1000) {
    const tick = now();
    await Promise.all(builders.map((b) => b.worker.request('append', { name: b.name, count: 1 })));
    await sleep(Math.max(0, PUBLISH_EVERY_MS - (now() - tick)));
  }
  const busy1 = await all<NodeTraffic>(workers, 'traffic');
  const busyUse1 = await usage(workers);
  const busySeconds = (now() - busyStart) / 1000;
  // Let the last checkpoints' syncs finish before the big append is measured.
  await settle();

  // The big append: who serves the tiles, and when is every follower verified.
  say(`append of ${APPEND} entries`);
  const b0 = builders[0]!;
  const tiles0 = await all<NodeTraffic>(workers, 'traffic');
  const appended = await b0.worker.request<{
    size: number;
    signedAt: number;
    startedAt: number;
    checkpoints: number;
  }>('append', {
    name: b0.name,
    count: APPEND,
  });
  const verified = await all<{ at?: number }>(workers, 'synced', {
    logId: b0.logId,
    size: appended.size,
    timeoutMs: 180_000,
  });
  const tiles1 = await all<NodeTraffic>(workers, 'traffic');
  const sentBy = new Map(tiles0.map((t) => [t.name, t.tilesSent]));
  const served = tiles1.map((t) => ({
    name: t.name,
    role: t.role,
    bytes: t.tilesSent - sentBy.get(t.name)!,
  }));
  const tileBytes = served.reduce((s, x) => s + x.bytes, 0);
  const share = (pick: (x: (typeof served)[number]) => boolean) =>
    Number((served.filter(pick).reduce((s, x) => s + x.bytes, 0) / (tileBytes || 1)).toFixed(3));
  const done = verified.filter((v) => v.at !== undefined).map((v) => (v.at! - appended.signedAt) / 1000);
  const complete = done.length === verified.length;

  // DHT: a fresh node, from start to the first provider of each builder's log.
  say('DHT lookups from fresh nodes');
  const dht: (number | undefined)[] = [];
  const prober = workers[workers.length - 1]!;
  for (const b of builders) {
    const r = await prober.request<{ ms?: number }>('freshProvider', {
      bootstrap,
      logId: b.logId,
      timeoutMs: 30_000,
    });
    dht.push(r.ms);
  }
  const rss = (await usage(workers)).reduce((s, u) => s + u.rss, 0) / n;
  await net.close();
  const found = dht.filter((x): x is number => x !== undefined);
  return {
    net: net.name,
    links: net.links,
    n,
    processes: count,
    nodesPerProcess: Math.ceil(n / count),
    load: { before: loadBefore, after: loadavg().map(round1) },
    seedNotSynced: seedBehind,
    propagation: {
      deliveryMs: {
        median: round1(median(deliveries)),
        p95: round1(percentile(deliveries, 95)),
        p99: round1(percentile(deliveries, 99)),
      },
      allNodesMs: {
        median: round1(median(toAll)),
        p95: round1(percentile(toAll, 95)),
        p99: round1(percentile(toAll, 99)),
      },
      rounds: ROUNDS,
      deliveries: deliveries.length,
      missing,
      slow: {
        count: slow.length,
        byGossip: slow.filter((s) => s.gossip).length,
        meshMedian: slow.length === 0 ? null : median(slow.map((s) => s.mesh)),
        nodes: Object.fromEntries(
          [...countBy(slow.map((s) => s.name))].sort((a, b) => b[1] - a[1]).slice(0, 8),
        ),
      },
    },
    append: {
      entries: APPEND,
      allVerifiedS: complete ? round1(Math.max(...done)) : null,
      medianVerifiedS: done.length > 0 ? round1(median(done)) : null,
      fromSubmitS: complete
        ? round1(Math.max(...done) + (appended.signedAt - appended.startedAt) / 1000)
        : null,
      notVerified: verified.length - done.length,
      checkpoints: appended.checkpoints,
      builderShare: share((x) => x.name === b0.name),
      bootstrapShare: share((x) => x.role === 'bootstrap'),
      followerShare: share((x) => x.role === 'follower'),
      tileBytes,
    },
    traffic: {
      idle: summarize(idle0, idle1, idleSeconds),
      busy: summarize(busy0, busy1, busySeconds),
    },
    dhtFirstProviderMs: {
      median: Math.round(median(found)),
      max: Math.round(Math.max(...found)),
      missing: dht.length - found.length,
    },
    perNode: {
      rssMb: Math.round(rss / 1e6),
      cpuIdlePercent: cpuPercentPerNode(idleUse0, idleUse1, idleSeconds),
      cpuBusyPercent: cpuPercentPerNode(busyUse0, busyUse1, busySeconds),
    },
  };
}

function table(runs: readonly SwarmRun[]): string {
  const head = [
    'net',
    'N',
    'procs',
    'prop med/p95/p99 ms',
    'to-all p99',
    `${APPEND} verified s`,
    'builder share',
    'idle out/in B/s',
    'busy out/in B/s',
    'boot busy out',
    'DHT ms',
    'RSS MB',
    'CPU% idle/busy',
    'load',
  ];
  const rows = runs.map((r) => [
    r.net,
    String(r.n),
    `${r.processes}x${r.nodesPerProcess}`,
    `${r.propagation.deliveryMs.median}/${r.propagation.deliveryMs.p95}/${r.propagation.deliveryMs.p99}`,
    String(r.propagation.allNodesMs.p99),
    String(r.append.allVerifiedS ?? `- (${r.append.notVerified} not)`),
    String(r.append.builderShare),
    `${r.traffic.idle.outMedian}/${r.traffic.idle.inMedian}`,
    `${r.traffic.busy.outMedian}/${r.traffic.busy.inMedian}`,
    String(r.traffic.busy.bootstrapOutMax),
    String(r.dhtFirstProviderMs.median),
    String(r.perNode.rssMb),
    `${r.perNode.cpuIdlePercent}/${r.perNode.cpuBusyPercent}`,
    r.load.after[0]!.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

export async function run() {
  const runs: SwarmRun[] = [];
  const blocked: string[] = [];
  for (const netName of NETS) {
    const sizes = netName === 'netns' ? NETNS_SIZES : SIZES;
    if (netName === 'netns') {
      const why = netnsUnavailable(['nft', 'tc']);
      if (why !== undefined) {
        blocked.push(`namespace runs skipped: ${why}`);
        continue;
      }
    }
    for (const n of sizes) {
      if (n < B + K + 1) throw new RangeError(`N=${n} is below ${B} bootstrap + ${K} builders + 1`);
      const net = netName === 'netns' ? await namespaces() : loopback();
      shaperFound ??= net.shaper;
      // A run stopped from outside still removes its processes, namespaces and links.
      const interrupted = (signal: NodeJS.Signals) => {
        process.stderr.write(`swarm ${netName} N=${n}: ${signal}, tearing down\n`);
        void net.close().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
      };
      process.once('SIGINT', interrupted);
      process.once('SIGTERM', interrupted);
      try {
        const result = await runSwarm(n, net);
        runs.push(result);
        // Each run's summary as soon as it is known: a long series interrupted keeps what it measured.
        process.stderr.write(`swarm result ${JSON.stringify(result)}\n`);
      } catch (err) {
        process.stderr.write(`swarm ${netName} N=${n} failed: ${(err as Error).stack}\n`);
        blocked.push(`${netName} N=${n}: ${(err as Error).message}`);
      } finally {
        process.off('SIGINT', interrupted);
        process.off('SIGTERM', interrupted);
        await net.close().catch(() => {});
      }
      process.stderr.write(`${table(runs)}\n`);
    }
  }
  const measurements: Measurement[] = runs.flatMap((r) => [
    {
      name: `${r.net} N=${r.n}: checkpoint propagation, builder signed -> each node's monitor accepted`,
      median: r.propagation.deliveryMs.median,
      p95: r.propagation.deliveryMs.p95,
      p99: r.propagation.deliveryMs.p99,
      unit: 'ms',
      runs: r.propagation.deliveries,
      target: 'p99 <= 1000 ms at N=200 with 40 ms links',
      toAllNodes: r.propagation.allNodesMs,
      missing: r.propagation.missing,
    },
    {
      name: `${r.net} N=${r.n}: ${r.append.entries}-entry append, signed -> every follower verified`,
      median: r.append.medianVerifiedS ?? Number.NaN,
      unit: 's',
      runs: 1,
      target: 'all <= 10 s; builder serves <= 25% of the tile bytes',
      all: r.append.allVerifiedS,
      ...r.append,
    },
    {
      name: `${r.net} N=${r.n}: per-node traffic (connection bytes), idle and with ${K} builders publishing every 2 s`,
      median: r.traffic.idle.outMedian,
      unit: 'bytes/s out, idle follower (median)',
      runs: 1,
      target: 'idle <= 2048 bytes/s per node',
      ...r.traffic,
    },
    {
      name: `${r.net} N=${r.n}: DHT, fresh node start -> first provider of a log`,
      median: r.dhtFirstProviderMs.median,
      unit: 'ms',
      runs: K,
      max: r.dhtFirstProviderMs.max,
      missing: r.dhtFirstProviderMs.missing,
    },
    {
      name: `${r.net} N=${r.n}: RSS and CPU per node at steady state (process totals / nodes)`,
      median: r.perNode.rssMb,
      unit: 'MB',
      runs: 1,
      ...r.perNode,
      processes: r.processes,
      load: r.load,
    },
  ]);
  return {
    ...suiteResult('swarm', measurements),
    setup: {
      hosting: `${PER_PROCESS} real TrustixNodes per process (bench/swarm-worker.ts): real libp2p, LevelDB, gossip, tile exchange, DHT`,
      builders: K,
      bootstrapNodes: B,
      propagationRounds: ROUNDS,
      windowSeconds: WINDOW_S,
      appendEntries: APPEND,
      latencyEmulation:
        shaperFound === undefined
          ? 'no namespace run'
          : `${SHAPE_TEXT} on every namespace link, by ${shaperFound === 'netem' ? 'tc netem' : 'the TAP link emulator'}`,
      blocked,
    },
    summary: runs,
  };
}

/** How often each value occurs. */
function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}
