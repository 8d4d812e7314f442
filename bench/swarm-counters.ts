/**
 * What the members of a worker process of the swarm benchmark (bench/swarm-worker.ts) cost: each node's
 * byte counters, read from its own /metrics as an operator would, and the process's RSS and CPU time,
 * which its nodes share. The parent sums them up (bench/swarm-usage.ts); apart from the members' start
 * because reading the counters is a measurement of its own.
 */
import { TILES_PROTOCOLS } from '../protocol/index.ts';
import { members, type Role } from './swarm-members.ts';

/** Per-node byte counters from its /metrics (libp2p_data_transfer_bytes_total). */
export interface NodeTraffic {
  readonly name: string;
  readonly role: Role;
  /** Bytes on the node's connections (after encryption and muxing), both ways. */
  readonly sent: number;
  readonly received: number;
  /** Tile exchange payload bytes this node sent (served) and received. */
  readonly tilesSent: number;
  readonly tilesReceived: number;
  /** Bytes sent per protocol (stream payload), for the breakdown. */
  readonly byProtocol: Record<string, number>;
}

/** Each node's byte counters, read from its own /metrics over HTTP as an operator would. */
export async function traffic(): Promise<NodeTraffic[]> {
  const out: NodeTraffic[] = [];
  for (const m of members) {
    const res = await fetch(`http://127.0.0.1:${m.httpPort}/metrics`, {
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    const byProtocol: Record<string, number> = {};
    const received: Record<string, number> = {};
    for (const match of text.matchAll(
      /^libp2p_data_transfer_bytes_total\{protocol="([^"]+) (sent|received)"\} (\S+)$/gm,
    )) {
      const target = match[2] === 'sent' ? byProtocol : received;
      target[match[1]!] = Number(match[3]);
    }
    out.push({
      name: m.spec.name,
      role: m.spec.role,
      sent: byProtocol['global'] ?? 0,
      received: received['global'] ?? 0,
      // Both versions of the tile exchange (1.1.0 deflates bundles): bytes as sent on the wire.
      tilesSent: TILES_PROTOCOLS.reduce((n, p) => n + (byProtocol[p] ?? 0), 0),
      tilesReceived: TILES_PROTOCOLS.reduce((n, p) => n + (received[p] ?? 0), 0),
      byProtocol,
    });
  }
  return out;
}

/** This process's resources: RSS, CPU time so far (µs), and how many nodes share them. */
export function usage(): { rss: number; cpuMicros: number; nodes: number } {
  const { user, system } = process.cpuUsage();
  return { rss: process.memoryUsage().rss, cpuMicros: user + system, nodes: members.length };
}
