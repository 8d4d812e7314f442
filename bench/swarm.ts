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
 * The settings (environment variables): bench/swarm-settings.ts; one run and its phases:
 * bench/swarm-run.ts (nodes placed by bench/swarm-placement.ts, traffic and CPU figures by
 * bench/swarm-usage.ts); the table and the measurements: bench/swarm-report.ts.
 */
import { netnsUnavailable } from '../test/helpers/netns.ts';
import { suiteResult } from './harness.ts';
import { loopback, namespaces } from './swarm-network.ts';
import { measurements, setup, table } from './swarm-report.ts';
import { runSwarm, type SwarmRun } from './swarm-run.ts';
import { B, K, NETNS_SIZES, NETS, SIZES } from './swarm-settings.ts';

/** How the namespace links were shaped, once a namespace run has looked. */
let shaperFound: 'netem' | 'tap' | undefined;

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
  return {
    ...suiteResult('swarm', measurements(runs)),
    setup: setup(shaperFound, blocked),
    summary: runs,
  };
}
