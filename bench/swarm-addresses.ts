/**
 * The addresses of the swarm benchmark's namespaces (bench/swarm.ts makes them, bench/swarm-members.ts
 * whitelists them for gossipsub's IP colocation penalty): process `i` gets 10.77.(1 + i).10 on a /16
 * bridge, a /24 of its own, as hosts on the Internet have (one /24 for all would share every node's
 * connection budget per subnet).
 */
export function swarmAddress(i: number): string {
  return `10.77.${1 + (i % 250)}.${10 + Math.floor(i / 250)}`;
}

/** Every address of the first 250 processes. */
export const SWARM_ADDRESSES: readonly string[] = Array.from({ length: 250 }, (_, i) => swarmAddress(i));
