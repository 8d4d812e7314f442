/**
 * How far a checkpoint got among the members of a worker process of the swarm benchmark
 * (bench/swarm-worker.ts): its arrivals at their monitors, the followers' syncs to it (and, for those
 * that did not get there, why), and their checkpoint-topic meshes. Apart from the members' start because
 * these are the benchmark's readings of propagation, polled until done or timed out.
 */
import type { TrustixNode } from '../node/index.ts';
import { CHECKPOINT_TOPIC } from '../protocol/index.ts';
import { now, sleep } from './swarm-clock.ts';
import { type Arrival, members } from './swarm-members.ts';

/**
 * Waits until each node here (but `except`) has seen checkpoint `logId:size` at its monitor, or
 * `timeoutMs`; the arrival times (undefined: not seen).
 */
export async function arrivals(args: {
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
export async function synced(args: {
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
export function mesh(): { min: number; median: number } {
  const sizes = members
    .map((m) => m.node.libp2p!.services.pubsub.getMeshPeers(CHECKPOINT_TOPIC).length)
    .sort((a, b) => a - b);
  return { min: sizes[0] ?? 0, median: sizes[Math.floor(sizes.length / 2)] ?? 0 };
}
