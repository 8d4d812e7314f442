/**
 * How the builders' logs reach the user's node in `trustix demo`: the builders publish and sign them,
 * the user's node hears of them over gossip, then syncs and verifies them; each told as it happens
 * (`[builders]`, `[network]`, `[sync]`). Its own module because these steps are the network half of the
 * story: they wait on peers, not on the user's node's answers (verdict-steps.ts).
 */
import { join } from 'node:path';
import type { TrustixNode } from '../assembly/trustix-node.ts';
import { DemoFailedError } from '../errors.ts';
import type { CheckpointEvent } from '../monitor/checkpoint-verdict.ts';
import { submit } from '../socket/submit-client.js';
import type { SyncProgress } from '../sync/sync-report.ts';
import type { BuilderName, DemoScenario } from './builds.ts';
import { list, seconds } from './narration.ts';
import type { DemoStage } from './stage.ts';
import { until, within } from './waits.ts';

/** Has every builder publish its log, then waits until each has signed all of it. */
export async function publish(
  demo: DemoStage,
  scenario: DemoScenario,
  builders: ReadonlyMap<BuilderName, TrustixNode>,
): Promise<void> {
  for (const name of builders.keys()) {
    const entries = scenario.logs[name];
    // Through the control socket, as `trustix publish` does, in requests under its 1 MiB cap.
    const socket = join(demo.dir, name, 'trustix.sock');
    for (let i = 0; i < entries.length; i += 500)
      await submit(
        socket,
        entries.slice(i, i + 500).map((entry) => ({ kind: 'entry' as const, entry })),
      );
  }
  await until(
    'the builders signing their logs',
    () => [...builders].every(([name, b]) => b.ownLog.size === scenario.logs[name].length),
    demo.ctx,
  );
  const n = (name: BuilderName) => scenario.logs[name].length;
  const lie = scenario.lie.build.name;
  demo.say('builders', `mercury published ${n('mercury')} builds (all of them)`);
  demo.say('builders', `venus   published ${n('venus')} builds (all but the 2 newest)`);
  demo.say('builders', `saturn  published ${n('saturn')} builds, one of them a lie: a tampered ${lie}`);
  demo.say('builders', `mars    published ${n('mars')} builds (still behind on the rest, ${lie} among them)`);
}

/** Waits until the user's node heard of every builder's log over gossip, telling each as it comes. */
export async function discover(
  demo: DemoStage,
  user: TrustixNode,
  builders: ReadonlyMap<BuilderName, TrustixNode>,
): Promise<void> {
  const names = new Map([...builders].map(([name, b]) => [b.ownLog.logId, { name, size: b.ownLog.size }]));
  const heard = new Set<string>();
  const tell = (logId: string, size: number, via: string) => {
    const b = names.get(logId);
    if (b === undefined || heard.has(logId) || size < b.size) return;
    heard.add(logId);
    demo.say('network', `heard of ${b.name}'s log ${via}: ${size} entries, signed by ${b.name}`);
  };
  const onCheckpoint = (e: CustomEvent<CheckpointEvent>) => {
    const c = e.detail;
    tell(
      c.logId,
      c.checkpoint.size,
      `over gossip${c.from === undefined ? '' : ` from ${demo.peerName(c.from)}`}`,
    );
  };
  user.monitor.addEventListener('checkpoint', onCheckpoint);
  demo.cleanups.push(() => user.monitor.removeEventListener('checkpoint', onCheckpoint));
  const started = Date.now();
  await until(
    'hearing of the four logs over gossip',
    async () => {
      // Also from the monitor's table: a checkpoint may have come before the listener was added.
      for (const l of await user.monitor.logs()) tell(l.logId, l.size, 'over gossip');
      return heard.size === names.size;
    },
    demo.ctx,
    100,
  );
  const peers = user.libp2p!.getConnections().length;
  demo.say(
    'network',
    `all 4 logs discovered in ${seconds(started)}; your node is connected to ${peers} peers`,
  );
}

/** Waits until the user's node holds every log verified to its full size, telling the progress. */
export async function sync(
  demo: DemoStage,
  user: TrustixNode,
  builders: ReadonlyMap<BuilderName, TrustixNode>,
  scenario: DemoScenario,
): Promise<void> {
  const follower = user.follower!;
  const nameOf = new Map([...builders].map(([name, b]) => [b.ownLog.logId, name]));
  const lastTold = new Map<string, number>();
  const onProgress = (e: CustomEvent<SyncProgress>) => {
    const p = e.detail;
    const name = nameOf.get(p.logId);
    const done = p.fromSize + p.verified;
    const now = Date.now();
    if (name === undefined || done >= p.targetSize || now - (lastTold.get(p.logId) ?? 0) < 500) return;
    lastTold.set(p.logId, now);
    demo.say('sync', `${name}: ${done}/${p.targetSize} entries fetched and verified`);
  };
  follower.addEventListener('progress', onProgress);
  demo.cleanups.push(() => follower.removeEventListener('progress', onProgress));
  const started = Date.now();
  const synced = new Set<BuilderName>();
  await until(
    'syncing the four logs',
    () => {
      for (const [name, b] of builders) {
        if (synced.has(name)) continue;
        const s = follower.status(b.ownLog.logId);
        if (s?.state === 'forked')
          throw new DemoFailedError(`${name}'s log is forked: ${s.error?.message ?? ''}`);
        if ((s?.verifiedSize ?? 0) < scenario.logs[name].length) continue;
        synced.add(name);
        const from = s!.sources.length === 0 ? '' : ` from ${list(s!.sources.map((p) => demo.peerName(p)))}`;
        demo.say(
          'sync',
          `${name}: synced, ${s!.verifiedSize} entries fetched${from}, each checked against ${name}'s signed root`,
        );
      }
      return synced.size === builders.size;
    },
    demo.ctx,
  );
  demo.say('sync', `all 4 logs synced and verified in ${seconds(started)}`);
  // The statistics (challenge, dashboard) index what was synced: wait until they hold all of it.
  await until(
    'indexing the synced logs',
    () =>
      user.stats.views
        .summary()
        .logs.every((l) => l.indexed === scenario.logs[l.name as BuilderName]?.length),
    demo.ctx,
  );
  await within('indexing the synced logs', user.stats.idle(), demo.ctx);
}
