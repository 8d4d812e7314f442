/**
 * The swarm benchmark's clock in its worker processes (bench/swarm-worker.ts): every time a worker reports
 * (a checkpoint signed or arrived, a sync done, a lookup's duration) is epoch ms at high resolution, so
 * that the parent compares times taken in different processes; and the waits its requests poll with.
 */
export const now = () => performance.timeOrigin + performance.now();

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
