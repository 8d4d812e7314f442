/**
 * One case of the hostile benchmark (bench/hostile.ts): a fresh victim following the honest log and a
 * hostile one, the honest log growing one second in, the narinfo client asking meanwhile, and the attack
 * run against it; its measurements (narinfo latency, victim RSS peak). Apart from the series of cases
 * because every case shares this set-up and measurement, only its attack differs.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { TrustixLibp2p } from '../node/index.ts';
import { parseStorePath } from '../protocol/index.ts';
import type { LogFixture } from '../test/helpers/log-fixture.ts';
import { syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { startTileServer } from '../test/helpers/tile-servers.ts';
import { type Measurement, median, percentile, round } from './harness.ts';
import { FLOODED_PATH, HONEST } from './hostile-builders.ts';
import { publish, startPeer } from './hostile-peer.ts';
import { HONEST_GROWTH } from './hostile-settings.ts';
import { startVictim, type Victim } from './hostile-victim-process.ts';
import { narinfoClient } from './narinfo-client-process.ts';

const MiB = 2 ** 20;

export interface AttackContext {
  readonly victim: Victim;
  /** The honest peer, meshed with the victim. */
  readonly honestPeer: TrustixLibp2p;
  /** Figures of the attack itself, added to the latency measurement. */
  report(figures: Record<string, unknown>): void;
}

/**
 * Runs `attack` (resolving when the attack is over) against a fresh victim following `honest` and
 * `hostile`, with the honest log growing meanwhile; narinfo latencies and the victim's RSS.
 */
export async function underAttack(
  name: string,
  honest: LogFixture,
  hostile: LogFixture,
  growthSeed: number,
  attack: (v: AttackContext) => Promise<void>,
): Promise<Measurement[]> {
  const servers = [await startTileServer(honest.store), await startTileServer(hostile.store)];
  const victim = await startVictim([
    { log: honest, name: 'honest', mirror: servers[0]!.url },
    { log: hostile, name: 'hostile', mirror: servers[1]!.url },
  ]);
  const honestPeer = await startPeer(victim);
  await publish(honestPeer, honest.key.vkey, honest.store.checkpoint()!.note);
  await victim.whenStatus(honest.key.logId, (s) => s.verifiedSize >= honest.store.size);
  const base = `http://127.0.0.1:${victim.http.port}/`;
  const hashParts = [...HONEST.map((e) => parseStorePath(e.split(';')[1]!).hashPart)];
  const flooded = parseStorePath(FLOODED_PATH).hashPart;

  const before = await victim.memory();
  let peak = before.rss;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, (await victim.memory()).rss);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  // Every 10th request: the attacked path; decisions are cached until a log grows.
  const paths = hashParts.flatMap((h, i) => (i % 9 === 8 ? [h, flooded] : [h]));
  const client = await narinfoClient(base, paths);
  // This process serves the mirrors and runs the honest peer beside the attackers: how late its loop ran.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const started = Date.now();
  // One second in, the honest log grows and its new checkpoint is gossiped: it must sync meanwhile.
  const honestGrown = (async () => {
    await new Promise((r) => setTimeout(r, 1_000));
    await honest.append([...syntheticEntries(HONEST_GROWTH, growthSeed)]);
    const grownAt = Date.now();
    await publish(honestPeer, honest.key.vkey, honest.store.checkpoint()!.note);
    await victim.whenStatus(honest.key.logId, (s) => s.verifiedSize >= honest.store.size);
    return (Date.now() - grownAt) / 1000;
  })();
  let extra: Record<string, unknown> = {};
  await attack({
    victim,
    honestPeer,
    report: (figures) => {
      extra = figures;
    },
  });
  const honestSyncSeconds = await honestGrown;
  // A few more seconds of serving after the attack settled.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const { times, failures } = await client.stop();
  loop.disable();
  sampling = false;
  await sampler;
  const seconds = (Date.now() - started) / 1000;
  const status = await victim.status(hostile.key.logId);
  const end = await victim.memory();

  await honestPeer.stop();
  await victim.stop();
  for (const s of servers) await s.stop();
  return [
    {
      name: `${name}: narinfo latency`,
      median: round(median(times)),
      p99: round(percentile(times, 99)),
      unit: 'ms',
      runs: times.length,
      target: 'p99 <= 50 ms',
      seconds,
      failedRequests: failures.length,
      firstFailures: failures.slice(0, 3),
      honestSyncSeconds: round(honestSyncSeconds),
      // The delay of this process's event loop (mirrors, honest peer, attackers) over the case.
      benchLoopDelayP99Ms: round(loop.percentile(99) / 1e6),
      benchLoopDelayMaxMs: round(loop.max / 1e6),
      hostileState: status?.state,
      hostileError: status?.error ?? null,
      hostileVerifiedSize: status?.verifiedSize,
      ...extra,
    },
    {
      name: `${name}: victim RSS peak`,
      median: round(peak / MiB),
      unit: 'MiB',
      runs: 1,
      target: '<= 250 MB',
      before: round(before.rss / MiB),
      // The kernel's high-water mark of the victim's RSS since it started (its initial sync included).
      vmHwm: round(end.hwm / MiB),
    },
  ];
}
