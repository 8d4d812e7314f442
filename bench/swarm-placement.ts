/**
 * Where the swarm's nodes run and how they start (bench/swarm-run.ts): B bootstrap nodes, K builders and
 * the rest followers, placed on the worker processes and started, the bootstrap nodes first (their
 * addresses are everyone's bootstrap list). Apart from the run's measurements because the placement is a
 * rule of its own (a builder beside the bootstrap nodes served its tiles late).
 */

import type { NodeSpec, StartedNode } from './swarm-members.ts';
import type { Worker } from './swarm-network.ts';
import { B, K, PER_PROCESS, SEQUENCER_MS } from './swarm-settings.ts';

/** A started node and the worker process that hosts it. */
export interface Placed extends StartedNode {
  readonly worker: Worker;
}

/**
 * Places `n` nodes on the `count` processes of `workers` and starts them: the nodes as placed, and the
 * bootstrap list (the bootstrap nodes' addresses).
 */
export async function placeNodes(
  n: number,
  count: number,
  workers: Worker[],
): Promise<{ placed: Placed[]; bootstrap: string[] }> {
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
  return { placed, bootstrap };
}
