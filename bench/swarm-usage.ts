/**
 * What the swarm's nodes used over a window of a run (bench/swarm-run.ts), from two snapshots of the
 * worker processes' counters: bytes per node per second, by role and by protocol (TrafficSummary), and CPU
 * per node. Apart from the run's phases, which only take the snapshots, because it is the arithmetic
 * of the report's traffic and CPU figures.
 */
import { median, round1 } from './harness.ts';
import type { NodeTraffic } from './swarm-counters.ts';
import type { Worker } from './swarm-network.ts';

export interface TrafficSummary {
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

/** Per-node traffic between two snapshots of the nodes' counters, `seconds` apart. */
export function summarize(before: NodeTraffic[], after: NodeTraffic[], seconds: number): TrafficSummary {
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

/** Each worker process's resident set, CPU time so far and node count. */
export async function usage(workers: Worker[]) {
  return Promise.all(
    workers.map((w) => w.request<{ rss: number; cpuMicros: number; nodes: number }>('usage')),
  );
}

/** CPU per node, in percent of one core, between two usage snapshots `seconds` apart. */
export function cpuPercentPerNode(
  before: { cpuMicros: number; nodes: number }[],
  after: { cpuMicros: number; nodes: number }[],
  seconds: number,
): number {
  const micros = after.reduce((s, u, i) => s + u.cpuMicros - before[i]!.cpuMicros, 0);
  const nodes = after.reduce((s, u) => s + u.nodes, 0);
  return round1((micros / 1e6 / seconds / nodes) * 100);
}
