/**
 * The load a worker process of the swarm benchmark (bench/swarm-worker.ts) puts on its members when the
 * parent asks: its followers follow the builders, a builder appends synthetic entries through its control
 * socket and tells its log's size. Apart from the members' start and the measurements because it is what
 * the benchmark does to the swarm, not what it reads of it.
 */
import { submit } from '../node/client.ts';
import { syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { now, sleep } from './swarm-clock.ts';
import { member, members } from './swarm-members.ts';

let entrySeed = 1;

export async function follow(args: { vkeys: string[] }): Promise<void> {
  for (const m of members)
    if (m.spec.role === 'follower')
      for (const [i, vkey] of args.vkeys.entries())
        if (m.node.followed.get(vkey) === undefined)
          await m.node.followed.follow(vkey, { name: `builder-${i}` });
}

/**
 * A builder appends `count` synthetic entries through its control socket; when signed, the size, and
 * how many checkpoints its sequencer signed on the way.
 */
export async function append(args: {
  name: string;
  count: number;
}): Promise<{ size: number; signedAt: number; startedAt: number; checkpoints: number }> {
  const m = member(args.name);
  const target = m.node.ownLog.size + args.count;
  const startedAt = now();
  const entries = [...syntheticEntries(args.count, entrySeed++ * 7919 + process.pid)];
  for (let i = 0; i < entries.length; i += 500)
    await submit(
      m.socket,
      entries.slice(i, i + 500).map((entry) => ({ kind: 'entry' as const, entry })),
      // Not what is measured: a process of several nodes on a starved machine may take a while.
      { timeoutMs: 60_000 },
    );
  const deadline = Date.now() + 120_000;
  for (;;) {
    const signedAt = m.signed.get(target);
    if (signedAt !== undefined) {
      const from = target - args.count;
      const checkpoints = [...m.signed.keys()].filter((size) => size > from && size <= target).length;
      return { size: target, signedAt, startedAt, checkpoints };
    }
    if (Date.now() > deadline) throw new Error(`${args.name}: append of ${args.count} not signed in 120 s`);
    await sleep(20);
  }
}

/** A builder's log size. */
export function size(args: { name: string }): number {
  return member(args.name).node.ownLog.size;
}
