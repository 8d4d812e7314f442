/**
 * `npm run bench -- hostile`: a victim node under hostile peers (issue 19's figures). The victim is a real
 * node in a process of its own (bench/hostile-victim.ts, compiled: libp2p, gossipsub, the checkpoint
 * monitor, LevelDB, the follower, the vote `majority` then `trust honest`, the substituter on HTTP), so
 * that its RSS is its own. It follows an honest builder (2,000 entries) and a hostile one, each served by
 * a real HTTP tile server here (the log's static mirror); their checkpoints reach it only by gossip, from
 * an honest peer here (a real libp2p node). While the attack runs, a client in a process of its own
 * (bench/narinfo-client.ts: the attackers here do not delay it) asks the victim's substituter for narinfos of the honest paths and of the attacked path, one at a time (no upstream
 * cache: the answer is 404 once the vote is taken, so the latency is the vote's and the server's); the
 * victim's VmRSS is read from /proc every 20 ms (its peak over the attack) and its VmHWM at the end (its
 * peak since it started). In every case the honest log grows by 100 entries one second into the attack,
 * and must sync.
 * - `2^40 checkpoint`: the hostile builder signs a checkpoint of 2^40 entries, gossiped by the honest
 *   peer (any peer relays a validly signed checkpoint); the follower refuses it (ERR_LOG_LIMIT).
 * - `100,000 entries for one path`: the hostile log holds that many entries for one store path; the
 *   victim syncs it and keeps serving.
 * - `fresh-key checkpoints`: 10 attacker peers (real libp2p nodes meshed with the victim) each publish
 *   100 checkpoints a second on the checkpoint topic, each of a fresh key (valid, of logs nobody
 *   follows), through gossipsub's validation and peer scores; reported: what the victim's validator
 *   answered, how many it never validated (dropped by gossipsub: graylisted senders), and the
 *   attackers' scores at the victim.
 * Baseline: the same victim, requests and honest growth with no attack (the hostile log honest, 300
 * entries), in the same run. Targets: victim RSS peak <= 250 MB, narinfo p99 <= 50 ms. Sizes:
 * TRUSTIX_BENCH_HOSTILE_FLOOD (default 100,000), TRUSTIX_BENCH_HOSTILE_SPAM_SECONDS (default 10).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createLibp2pNode, DAEMON_ENVIRONMENT, type TrustixLibp2p } from '../node/index.ts';
import {
  CHECKPOINT_TOPIC,
  formatCheckpointMessage,
  generateNixSecretKey,
  logKeyOf,
  logSigner,
  parseStorePath,
  signCheckpoint,
} from '../protocol/index.ts';
import { build, compiledUrl, isFresh } from '../scripts/build.mjs';
import { type LogFixture, openLogFixture } from '../test/helpers/log-fixture.ts';
import {
  fingerprint,
  prng,
  randomNarHash,
  randomStorePath,
  syntheticEntries,
} from '../test/helpers/synthetic-entries.ts';
import { startTileServer } from '../test/helpers/tile-servers.ts';
import { type Measurement, median, percentile, suiteResult } from './harness.ts';

const FLOOD = Number(process.env['TRUSTIX_BENCH_HOSTILE_FLOOD'] ?? 100_000);
const HONEST = [...syntheticEntries(2_000, 3)];
const rand = prng(40);
const FLOODED_PATH = randomStorePath(rand, 'flooded-1.0');
const SPAM_SECONDS = Number(process.env['TRUSTIX_BENCH_HOSTILE_SPAM_SECONDS'] ?? 10);
const SPAM_PEERS = 10;
const SPAM_PER_PEER_PER_SECOND = 100;
/** Entries the honest log gains during each attack. */
const HONEST_GROWTH = 100;
const MiB = 2 ** 20;

async function builder(name: string, entries: readonly string[]): Promise<LogFixture> {
  // A hostile builder's log is not bound by the per-path cap an honest node's own log keeps.
  const log = await openLogFixture({
    secret: generateNixSecretKey(`${name}-1`),
    init: { maxPathEntries: Number.POSITIVE_INFINITY },
  });
  for (let i = 0; i < entries.length; i += 10_000) await log.append(entries.slice(i, i + 10_000));
  return log;
}

interface VictimStatus {
  logId: string;
  state: string;
  verifiedSize: number;
  size: number;
  error: string | null;
}

/** The victim's process, run from the compiled build as the systemd unit runs a node, and its IPC. */
async function startVictim(logs: { log: LogFixture; name: string; mirror: string }[]) {
  // A build from before the victim was compiled is fresh by its own manifest, yet lacks it.
  const compiled = () => compiledUrl('bench/hostile-victim.ts');
  if (!isFresh() || !existsSync(fileURLToPath(compiled()!))) await build();
  const child: ChildProcess = fork(fileURLToPath(compiled()!), [], {
    execArgv: [],
    env: { ...process.env, ...DAEMON_ENVIRONMENT, TRUSTIX_LOCAL_ONLY: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = <T>(message: object, answer: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (m['error'] !== undefined) reject(new Error(`victim: ${m['error']}`));
        else if (m[answer] !== undefined) resolve(m[answer] as T);
        else return;
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onExit = (code: number | null) => reject(new Error(`victim exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(message);
    });
  const started = await ask<{ http: { host: string; port: number }; addr: string }>(
    {
      start: {
        logs: logs.map((l) => ({
          vkey: l.log.key.vkey,
          logId: l.log.key.logId,
          name: l.name,
          mirror: l.mirror,
        })),
        vote: ['majority', 'trust honest'],
      },
    },
    'started',
  );
  const status = async (logId: string) =>
    (await ask<VictimStatus[]>({ status: true }, 'status')).find((s) => s.logId === logId);
  /** Resolves once the victim's status of `logId` passes `until` (asked every 100 ms). */
  const whenStatus = async (logId: string, until: (s: VictimStatus) => boolean) => {
    for (;;) {
      const s = await status(logId);
      if (s !== undefined && until(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const memory = async () => {
    const text = await readFile(`/proc/${child.pid}/status`, 'utf8');
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  };
  const gossip = (peers: string[]) =>
    ask<{ results: Record<string, number>; scores: number[]; logsTracked: number }>(
      { gossip: { peers } },
      'gossip',
    );
  const stop = async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.send({ stop: true });
    await exited;
  };
  return { ...started, status, whenStatus, memory, gossip, stop };
}
type Victim = Awaited<ReturnType<typeof startVictim>>;

/** A real libp2p peer here, dialled to the victim, that publishes on the checkpoint topic. */
async function startPeer(victim: Victim): Promise<TrustixLibp2p> {
  const node = await createLibp2pNode({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    allowList: ['/ip4/127.0.0.0/ipcidr/8'],
    whitelistIps: ['127.0.0.1'],
    localOnly: true,
    bootstrap: [victim.addr],
  });
  node.services.pubsub.subscribe(CHECKPOINT_TOPIC);
  const victimId = victim.addr.split('/p2p/')[1]!;
  // Published messages go to the peers known to subscribe: wait until the victim is one.
  while (!node.services.pubsub.getSubscribers(CHECKPOINT_TOPIC).some((p) => p.toString() === victimId))
    await new Promise((r) => setTimeout(r, 50));
  return node;
}

const publish = (peer: TrustixLibp2p, vkey: string, note: Uint8Array) =>
  peer.services.pubsub.publish(CHECKPOINT_TOPIC, formatCheckpointMessage(vkey, note));

/** The narinfo client's process (bench/narinfo-client.ts), asking `paths` of `base` from now on. */
async function narinfoClient(base: string, paths: readonly string[]) {
  const child = fork(fileURLToPath(new URL('./narinfo-client.ts', import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T>(key: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (m[key] === undefined) return;
        child.off('message', onMessage);
        resolve(m[key] as T);
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`narinfo client exited (${code})`)));
    });
  const started = next<true>('started');
  child.send({ start: { base, paths } });
  await started;
  return {
    stop: async () => {
      const stopped = next<{ times: number[]; failures: string[] }>('stopped');
      child.send({ stop: true });
      return stopped;
    },
  };
}

interface AttackContext {
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
async function underAttack(
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

const round = (x: number) => Number(x.toPrecision(4));

export async function run() {
  const honest = await builder('honest', HONEST);
  const measurements: Measurement[] = [];
  const made = Date.now();
  const messages = spamMessages();
  const spamMadeSeconds = (Date.now() - made) / 1000;
  try {
    const small = await builder('hostile', [...syntheticEntries(300, 9)]);
    const smallSynced = async (v: AttackContext) => {
      await publish(v.honestPeer, small.key.vkey, small.store.checkpoint()!.note);
      await v.victim.whenStatus(small.key.logId, (s) => s.verifiedSize >= 300);
    };
    measurements.push(
      ...(await underAttack(
        'baseline (no attack; hostile log honest, 300 entries)',
        honest,
        small,
        20,
        smallSynced,
      )),
    );
    measurements.push(
      ...(await underAttack('2^40 checkpoint', honest, small, 21, async (v) => {
        await smallSynced(v);
        const claim = signCheckpoint(
          { origin: small.store.checkpoint()!.origin, size: 2 ** 40, root: randomBytes(32), extensions: [] },
          logSigner(small.secret),
        );
        await publish(v.honestPeer, small.key.vkey, claim);
        await v.victim.whenStatus(small.key.logId, (s) => s.state === 'failed');
      })),
    );
    measurements.push(
      ...(await underAttack(
        `${SPAM_PEERS * SPAM_PER_PEER_PER_SECOND} fresh-key checkpoints/s from ${SPAM_PEERS} gossipsub peers, ${SPAM_SECONDS} s`,
        honest,
        small,
        22,
        async (v) => {
          await smallSynced(v);
          v.report({ ...(await spam(v.victim, messages)), spamMadeSeconds });
        },
      )),
    );
    await small.destroy();
    const flood = Array.from({ length: FLOOD }, (_, i) =>
      fingerprint(FLOODED_PATH, randomNarHash(rand), 1000 + i, []),
    );
    const flooder = await builder('flooder', flood);
    measurements.push(
      ...(await underAttack(`${FLOOD} entries for one path`, honest, flooder, 23, async (v) => {
        await publish(v.honestPeer, flooder.key.vkey, flooder.store.checkpoint()!.note);
        await v.victim.whenStatus(flooder.key.logId, (s) => s.verifiedSize >= FLOOD || s.state === 'failed');
      })),
    );
    await flooder.destroy();
  } finally {
    await honest.destroy();
  }
  return suiteResult('hostile', measurements);
}

/**
 * Case (c)'s messages: SPAM_PEERS * SPAM_PER_PEER_PER_SECOND * SPAM_SECONDS checkpoint messages, each of
 * a fresh key (a valid first checkpoint of a log nobody follows). Made before any measurement: signing
 * is the attacker's cost.
 */
function spamMessages(): Uint8Array[] {
  return Array.from({ length: SPAM_PEERS * SPAM_PER_PEER_PER_SECOND * SPAM_SECONDS }, (_, i) => {
    const secret = generateNixSecretKey(`spam${i}-1`);
    const note = signCheckpoint(
      { origin: `spam${i}-1`, size: 1 + (i % 1000), root: randomBytes(32), extensions: [] },
      logSigner(secret),
    );
    return formatCheckpointMessage(logKeyOf(secret).vkey, note);
  });
}

/**
 * Case (c): SPAM_PEERS attacker peers (real libp2p nodes, dialled to the victim) each publish their
 * share of `messages` on the checkpoint topic, SPAM_PER_PEER_PER_SECOND a second. Returns what the
 * victim's validator answered, the attackers' scores at the victim, and the rate achieved.
 */
async function spam(victim: Victim, messages: readonly Uint8Array[]) {
  const attackers = await Promise.all(Array.from({ length: SPAM_PEERS }, () => startPeer(victim)));
  const ids = attackers.map((a) => a.peerId.toString());
  const before = await victim.gossip(ids);
  const validatedBefore = Object.values(before.results).reduce((a, b) => a + b, 0);
  const total = messages.length;
  const started = Date.now();
  let sent = 0;
  let publishFailed = 0;
  const published: Promise<unknown>[] = [];
  // Every 10 ms, the messages due by then, round-robin over the attackers.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(
        total,
        Math.floor(((Date.now() - started) * SPAM_PEERS * SPAM_PER_PEER_PER_SECOND) / 1000),
      );
      for (; sent < due; sent++)
        published.push(
          attackers[sent % SPAM_PEERS]!.services.pubsub.publish(CHECKPOINT_TOPIC, messages[sent]!).catch(
            () => {
              publishFailed++;
            },
          ),
        );
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  const seconds = (Date.now() - started) / 1000;
  await Promise.all(published);
  // Let the victim's validation queue drain and gossipsub recompute scores (once a heartbeat, 1 s).
  let after = await victim.gossip(ids);
  for (let last = -1, i = 0; i < 50; i++) {
    const validated = Object.values(after.results).reduce((a, b) => a + b, 0);
    if (validated === last && i >= 3) break;
    last = validated;
    await new Promise((r) => setTimeout(r, 500));
    after = await victim.gossip(ids);
  }
  for (const a of attackers) await a.stop();
  const results = Object.fromEntries(
    Object.entries(after.results).map(([k, n]) => [k, n - (before.results[k] ?? 0)]),
  );
  const validated = Object.values(after.results).reduce((a, b) => a + b, 0) - validatedBefore;
  return {
    spamSent: sent,
    spamPerSecond: round(sent / seconds),
    spamPublishFailed: publishFailed,
    // The victim's checkpoint-topic validator, on this attack's messages (and the honest peer's few).
    spamValidated: results,
    // Sent but never validated: dropped by gossipsub before validation (a graylisted sender's RPCs).
    spamNotValidated: sent - publishFailed - validated,
    attackerScoresBefore: before.scores,
    attackerScoresAfter: after.scores,
    logsTracked: after.logsTracked,
  };
}
