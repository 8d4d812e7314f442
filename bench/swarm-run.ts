/**
 * One run of the swarm benchmark (bench/swarm.ts): N nodes on one network, and its measurement phases in
 * order (gossip mesh, seeded logs, propagation rounds, idle and busy windows, the big append, DHT lookups
 * from a fresh node), each on the state the one before left; the result is a SwarmRun, the report's
 * record (bench/swarm-report.ts).
 */
import { loadavg } from 'node:os';
import { median, percentile, round1 } from './harness.ts';
import type { NodeTraffic } from './swarm-counters.ts';
import type { Arrival } from './swarm-members.ts';
import type { Network, Worker } from './swarm-network.ts';
import { placeNodes } from './swarm-placement.ts';
import { APPEND, PER_PROCESS, PUBLISH_EVERY_MS, ROUNDS, WINDOW_S } from './swarm-settings.ts';
import { cpuPercentPerNode, summarize, type TrafficSummary, usage } from './swarm-usage.ts';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface SwarmRun {
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

async function all<T>(workers: Worker[], op: string, args: Record<string, unknown> = {}, timeoutMs?: number) {
  return (await Promise.all(workers.map((w) => w.request<T[]>(op, args, timeoutMs)))).flat();
}

/** Runs the swarm of `n` nodes on `net` through every phase, then closes `net`. */
export async function runSwarm(n: number, net: Network): Promise<SwarmRun> {
  const loadBefore = loadavg().map(round1);
  const count = Math.ceil(n / PER_PROCESS);
  const say = (what: string) => process.stderr.write(`swarm ${net.name} N=${n}: ${what}\n`);
  say(`starting ${count} processes`);
  const workers = await net.workers(count);
  const { placed, bootstrap } = await placeNodes(n, count, workers);
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

/** How often each value occurs. */
function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}
