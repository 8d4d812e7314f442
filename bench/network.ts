/**
 * `npm run bench -- network`: sync throughput over libp2p tile exchange from 1 and from 3 providers,
 * the same sync by a full node (which also indexes its statistics), and checkpoint propagation through 20
 * nodes. The memory of a node is the memory suite's (bench/memory.ts).
 * Size: TRUSTIX_BENCH_SYNC_ENTRIES (default 1,000,000).
 */
import '../node/client.ts';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CheckpointEvent } from '../node/index.ts';
import {
  CheckpointMonitor,
  createLibp2pNode,
  DAEMON_ENVIRONMENT,
  Gossip,
  gossipScoreParams,
  Libp2pTileSource,
  LogProviders,
  LogStore,
  LogSync,
  openDatabase,
  providingDhts,
  TileExchange,
  type TrustixLibp2p,
} from '../node/index.ts';
import { build, compiledUrl, isFresh } from '../scripts/build.mjs';
import { type LogFixture, openLogFixture, tempDir } from '../test/helpers/log-fixture.ts';
import { syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { type Measurement, median, percentile, suiteResult } from './harness.ts';

const SYNC_ENTRIES = Number(process.env['TRUSTIX_BENCH_SYNC_ENTRIES'] ?? 1_000_000);
const LOOPBACK = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  allowList: ['/ip4/127.0.0.0/ipcidr/8'],
  whitelistIps: ['127.0.0.1'],
};
const exec = promisify(execFile);
/** Node flags for the benchmark's node processes (experiments): TRUSTIX_BENCH_NODE_FLAGS. */
const nodeFlags = () => (process.env['TRUSTIX_BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);

export async function buildLog(n: number, seed: number): Promise<LogFixture> {
  const log = await openLogFixture({ init: { intervalMs: 0, maxBatchSubmissions: 20_000 } });
  const entries = syntheticEntries(n, seed);
  for (let done = 0; done < n; done += 10_000) {
    const chunk: { kind: 'entry'; entry: string }[] = [];
    for (let i = 0; i < 10_000 && done + i < n; i++)
      chunk.push({ kind: 'entry', entry: entries.next().value as string });
    await log.queue.enqueue(chunk);
  }
  await log.sequencer.flushed();
  return log;
}

/** `count` libp2p nodes serving `logs` over the tile exchange (and providing them in the DHT). */
export async function providers(count: number, logs: readonly LogStore[], bootstrap?: string) {
  const nodes: { node: TrustixLibp2p; stop: () => Promise<void> }[] = [];
  for (let i = 0; i < count; i++) {
    const node = await createLibp2pNode({ ...LOOPBACK, ...(bootstrap ? { bootstrap: [bootstrap] } : {}) });
    const byId = new Map(logs.map((l) => [l.logId, l]));
    const tiles = new TileExchange({
      registrar: node,
      logs: { get: (id) => byId.get(id), list: () => [...logs] },
    });
    await tiles.start();
    const dht = new LogProviders({
      contentRouting: node.contentRouting,
      dhts: providingDhts(node),
      peerId: node.peerId,
    });
    dht.start();
    for (const l of logs) dht.provide(l.logId);
    nodes.push({
      node,
      stop: async () => {
        await dht.stop();
        await tiles.stop();
        await node.stop();
      },
    });
  }
  return nodes;
}

async function syncRate(log: LogFixture, sourceCount: number): Promise<Measurement> {
  const served = await providers(sourceCount, [log.store]);
  const client = await createLibp2pNode(LOOPBACK);
  const dir = await tempDir('trustix-bench-sync-');
  const db = await openDatabase(join(dir, 'db'));
  try {
    const store = await LogStore.open(db, log.key);
    const sources = served.map(
      ({ node }) => new Libp2pTileSource({ dialer: client }, { peer: node.getMultiaddrs()[0]! }),
    );
    const sync = new LogSync({ db, store, sources });
    const cpu = process.cpuUsage();
    const started = performance.now();
    await sync.run(log.store.checkpoint()!.note);
    const seconds = (performance.now() - started) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    return {
      name: `sync of ${log.store.size} entries over libp2p from ${sourceCount} provider(s), verified and stored`,
      median: Math.round(log.store.size / seconds),
      unit: 'entries/s',
      runs: 1,
      target: sourceCount === 1 ? '>= 30,000 entries/s' : 'faster than from 1',
      // CPU of this process (providers and follower, all threads): steadier than the rate on a shared machine.
      cpuSeconds: Number(((user + system) / 1e6).toFixed(1)),
    };
  } finally {
    await db.close();
    await client.stop();
    for (const p of served) await p.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Tile requests per second to one peer over one connection: one at a time, 8 and 32 in flight. */
async function tileRequestRates(log: LogFixture): Promise<Measurement[]> {
  const served = await providers(1, [log.store]);
  const client = await createLibp2pNode(LOOPBACK);
  const peer = served[0]!.node.getMultiaddrs()[0]!;
  const tile = { kind: 'hash' as const, level: 0, index: 0, width: 256 };
  const out: Measurement[] = [];
  try {
    for (const inFlight of [1, 8, 32]) {
      const source = new Libp2pTileSource({ dialer: client }, { peer, maxConcurrency: inFlight });
      const n = inFlight === 1 ? 200 : 1000;
      await source.tiles(log.key.logId, [tile]);
      const started = performance.now();
      if (inFlight === 1) for (let i = 0; i < n; i++) await source.tiles(log.key.logId, [tile]);
      else
        await source.tiles(
          log.key.logId,
          Array.from({ length: n }, () => tile),
        );
      out.push({
        name: `tile exchange: full hash tiles per second from one peer, ${inFlight} in flight`,
        median: Math.round(n / ((performance.now() - started) / 1000)),
        unit: 'requests/s',
        runs: 1,
      });
    }
  } finally {
    await client.stop();
    for (const p of served) await p.stop();
  }
  return out;
}

/** 20 nodes with monitors and gossip; one publishes 15 checkpoints; time until all 19 others have each. */
async function propagation(): Promise<Measurement> {
  const N = 20;
  const log = await openLogFixture();
  const dirs: string[] = [];
  const members: {
    node: TrustixLibp2p;
    gossip: Gossip;
    monitor: CheckpointMonitor;
    close: () => Promise<void>;
  }[] = [];
  let bootstrap: string | undefined;
  for (let i = 0; i < N; i++) {
    const node = await createLibp2pNode({
      ...LOOPBACK,
      gossipScoreParams: gossipScoreParams(),
      ...(bootstrap ? { bootstrap: [bootstrap] } : {}),
    });
    bootstrap ??= node.getMultiaddrs()[0]!.toString();
    const dir = await tempDir('trustix-bench-gossip-');
    dirs.push(dir);
    const db = await openDatabase(join(dir, 'db'));
    const monitor = new CheckpointMonitor({ db, logs: { get: () => undefined } });
    await monitor.start();
    const gossip = new Gossip({ pubsub: node.services.pubsub, monitor });
    gossip.start();
    members.push({
      node,
      gossip,
      monitor,
      close: async () => {
        gossip.stop();
        await node.stop();
        await db.close();
      },
    });
  }
  const deadline = Date.now() + 30_000;
  while (members.some((m) => m.node.services.pubsub.getMeshPeers('/trustix/checkpoint/1.0.0').length < 2)) {
    if (Date.now() > deadline) throw new Error('no gossip mesh after 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const times: number[] = [];
  const entries = syntheticEntries(100, 5);
  for (let round = 0; round < 15; round++) {
    await log.append([entries.next().value as string]);
    const size = log.store.size;
    const arrived = members.slice(1).map(
      (m) =>
        new Promise<number>((resolve) => {
          const on = (e: Event) => {
            if ((e as CustomEvent<CheckpointEvent>).detail.checkpoint.size !== size) return;
            m.monitor.removeEventListener('checkpoint', on);
            resolve(performance.now());
          };
          m.monitor.addEventListener('checkpoint', on);
        }),
    );
    const started = performance.now();
    await members[0]!.gossip.publishCheckpoint(log.key.vkey, log.store.checkpoint()!.note);
    const all = await Promise.race([
      Promise.all(arrived),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('propagation over 10 s')), 10_000)),
    ]);
    times.push(Math.max(...all) - started);
  }
  for (const m of members) await m.close();
  await log.destroy();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  return {
    name: `checkpoint propagation to all of ${N} nodes (publish to last delivery, with validation)`,
    median: Number(median(times).toFixed(1)),
    p95: Number(percentile(times, 95).toFixed(1)),
    unit: 'ms',
    runs: times.length,
    target: 'median <= 200 ms',
  };
}

/** What bench/network-follower.ts reports (with more figures, see there). */
export interface FollowerReport {
  rssMb: number;
  syncedRssMb: number;
  peakRssMb: number;
  entries: number;
  seconds: number;
  /** The node's memory releases: seconds after start, phase (syncing, indexing, resting), RSS before and after. */
  releases?: { at: number; phase: string; beforeMb: number; afterMb: number }[];
  /** Where the resident set is, when synced and at rest (bench/network-follower.ts, residentParts). */
  whenSynced?: Record<string, number>;
  atRest?: Record<string, number>;
  [figure: string]: number | FollowerReport['releases'] | Record<string, number>;
}

/**
 * A separate process runs a full node (TrustixNode, compiled, as cli/bin/trustix.js runs it) that
 * follows `logs` from one provider, found through the DHT, and reports once synced and at rest.
 */
export async function fullNode(
  logs: readonly LogFixture[],
  options: { env?: Record<string, string>; flags?: readonly string[]; timeoutMs?: number } = {},
): Promise<FollowerReport> {
  const served = await providers(
    1,
    logs.map((l) => l.store),
  );
  try {
    const addr = served[0]!.node.getMultiaddrs()[0]!.toString();
    if (!isFresh()) await build();
    const follower = compiledUrl('bench/network-follower.ts')!;
    const { stdout } = await exec(
      process.execPath,
      [...(options.flags ?? nodeFlags()), fileURLToPath(follower), addr, ...logs.map((l) => l.key.vkey)],
      {
        timeout: options.timeoutMs ?? 3_600_000,
        // Run as the systemd unit runs a node.
        env: { ...process.env, ...DAEMON_ENVIRONMENT, ...options.env },
      },
    );
    return JSON.parse(stdout) as FollowerReport;
  } finally {
    for (const p of served) await p.stop();
  }
}

/** The sync rate of a full node, which also indexes what it syncs for the statistics. */
async function fullNodeSyncRate(log: LogFixture): Promise<Measurement> {
  const report = await fullNode([log]);
  return {
    name: `full node: follow and sync of ${log.store.size} entries from 1 provider (found in the DHT), verified, stored and indexed for the statistics`,
    median: Math.round(report.entries / report.seconds),
    unit: 'entries/s',
    runs: 1,
    target: '(context for the rate above: a node does this)',
    rssAtRestMb: report.rssMb,
    peakRssMb: report.peakRssMb,
  };
}

export async function run() {
  const m: Measurement[] = [];
  const big = await buildLog(SYNC_ENTRIES, 1);
  try {
    m.push(...(await tileRequestRates(big)));
    m.push(await syncRate(big, 1));
    m.push(await syncRate(big, 3));
    m.push(await fullNodeSyncRate(big));
  } finally {
    await big.destroy();
  }
  m.push(await propagation());
  return suiteResult('network', m);
}
