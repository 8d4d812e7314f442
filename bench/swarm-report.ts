/**
 * The swarm benchmark's report (bench/swarm.ts): its runs (SwarmRun, bench/swarm-run.ts) as the table
 * printed after each run, as the harness's measurements with their targets, and the setup they were
 * measured on. Apart from the runs so that what is printed and kept can change without touching how it
 * is measured.
 */
import type { Measurement } from './harness.ts';
import { SHAPE_TEXT } from './swarm-network.ts';
import type { SwarmRun } from './swarm-run.ts';
import { APPEND, B, K, PER_PROCESS, ROUNDS, WINDOW_S } from './swarm-settings.ts';

/** The runs so far, a row each, for the terminal. */
export function table(runs: readonly SwarmRun[]): string {
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

/** The runs' measurements for the suite's result (bench/harness.ts), with the issue's targets. */
export function measurements(runs: readonly SwarmRun[]): Measurement[] {
  return runs.flatMap((r) => [
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
}

/**
 * The setup the runs were measured on; `shaperFound`: how the namespace links were shaped, if a namespace
 * run looked; `blocked`: the runs that could not be made, and why.
 */
export function setup(shaperFound: 'netem' | 'tap' | undefined, blocked: string[]) {
  return {
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
  };
}
