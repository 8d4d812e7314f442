/**
 * Light nodes end to end, with real nodes (real libp2p on 127.0.0.1, real LevelDB): four builders, a user
 * following their logs in full and a user following them light. The light user keeps no copy, votes
 * from lookups with proofs, and votes exactly as the full one; hostile providers are passed over and
 * banned, and a split view shown to the light user is caught by the evidence a full follower gossips.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { TrustixNode, type TrustixNodeInit } from '../node/assembly/trustix-node.ts';
import { LogProviders } from '../node/network/log-providers.ts';
import { submit } from '../node/socket/submit-client.js';
import { decisionJson } from '../node/vote/decisions.ts';
import { parseStorePath } from '../protocol/store-path.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { FAST, startTrustixNode, type TestNodeInit } from './helpers/node-fixture.ts';
import { dialAddress, LOOPBACK_INIT, waitFor } from './helpers/p2p.ts';
import { fingerprint, prng, randomNarHash, randomStorePath } from './helpers/synthetic-entries.ts';

async function node(t: ExecutionContext, name: string, init: TestNodeInit = {}): Promise<TrustixNode> {
  return (await startTrustixNode((c) => t.teardown(c), name, init)).node;
}

function dataDirOf(n: TrustixNode): string {
  return (n as unknown as { init: TrustixNodeInit }).init.dataDir;
}

async function publish(builder: TrustixNode, entries: readonly string[]): Promise<void> {
  for (let i = 0; i < entries.length; i += 1000)
    await submit(
      join(dataDirOf(builder), 'trustix.sock'),
      entries.slice(i, i + 1000).map((entry) => ({ kind: 'entry' as const, entry })),
    );
}

const BUILDERS = ['mercury', 'venus', 'saturn', 'mars'] as const;

/**
 * Entries of four builders over one pool of paths: each builder holds each path with probability 0.75,
 * mostly with the honest NAR hash; saturn often with its own; some paths rebuilt (two entries).
 */
function builderEntries(paths: number, seed: number): { entries: string[][]; pool: string[] } {
  const rand = prng(seed);
  const entries: string[][] = BUILDERS.map(() => []);
  const pool: string[] = [];
  for (let i = 0; i < paths; i++) {
    const path = randomStorePath(rand);
    pool.push(path);
    const honest = fingerprint(path, randomNarHash(rand), 1000 + i, []);
    BUILDERS.forEach((name, b) => {
      if (rand() >= 0.75) return;
      const own =
        name === 'saturn' && rand() < 0.4 ? fingerprint(path, randomNarHash(rand), 1000 + i, []) : honest;
      entries[b]!.push(own);
      if (rand() < 0.05) entries[b]!.push(fingerprint(path, randomNarHash(rand), 7 + i, []));
    });
  }
  return { entries, pool };
}

/**
 * Paths in the pool (held by some logs), paths no log holds, and paths compared at once. The comparison
 * is CPU-bound (below); more paths at once only queue lookups behind the client's per-peer cap, and on a
 * loaded machine push exchanges toward the lookup timeout (at load ~20, 16 at once took 35% more CPU
 * than 8, with unanswered lookups to take again).
 */
const POOL_PATHS = 1600;
const UNKNOWN_PATHS = 400;
const CONCURRENT_PATHS = 8;

test.serial(
  'a light node following four logs votes exactly as a full node following the same four',
  async (t) => {
    // Seven nodes in one process, 8,000 light lookups (each asking two providers at once, so about twice
    // as many exchanges), all on one event loop: CPU-bound, about 8 ms of CPU per exchange here (stream
    // setup, noise, yamux, the peer store's update per stream, LevelDB reads, gossip). About 130 s of
    // CPU, so minutes on a loaded machine, where the process gets a fraction of a core.
    const T0 = Date.now();
    t.timeout(30 * 60_000, 'seven nodes and 8,000 lookups in one process on a loaded machine');
    const boot = await node(t, 'boot', { role: 'bootstrap' });
    const bootstrap = [dialAddress(boot.libp2p!)];
    const builders = await Promise.all(BUILDERS.map((name) => node(t, name, { bootstrap })));
    const full = await node(t, 'full-user', { bootstrap });
    const light = await node(t, 'light-user', { bootstrap });

    const { entries, pool } = builderEntries(POOL_PATHS, 16);
    await Promise.all(builders.map((b, i) => publish(b, entries[i]!)));
    await waitFor(
      'builders sequenced',
      () => builders.every((b, i) => b.ownLog.size === entries[i]!.length),
      { timeout: 120_000 },
    );

    for (const b of builders) {
      await full.followed.follow(b.keys.log.vkey);
      await light.followed.follow(b.keys.log.vkey, { light: true });
    }
    t.true(light.followed.list().every((f) => f.light));
    for (const [i, b] of builders.entries()) {
      const size = entries[i]!.length;
      await waitFor(
        `full copy of ${BUILDERS[i]}`,
        () => (full.follower!.status(b.ownLog.logId)?.verifiedSize ?? 0) >= size,
        { timeout: 300_000, interval: 50 },
      );
      await light.light!.whenVerified(b.ownLog.logId, size);
    }
    t.log(`synced in ${Date.now() - T0} ms`);
    // The light node holds no copy of any of them.
    t.deepEqual(light.follower!.list(), []);

    // Every path of the pool (each log lacks about a quarter of them), and paths no log has.
    const rand = prng(99);
    const paths = [...pool, ...Array.from({ length: UNKNOWN_PATHS }, () => randomStorePath(rand))];
    const lacked = pool.filter((p) => entries.some((e) => !e.some((f) => f.startsWith(`1;${p};`)))).length;
    t.true(lacked > pool.length / 2, `${lacked} pool paths lacked by some log`);
    let decided = 0;
    let lightVotes = 0;
    let again = 0;
    // A lookup no provider answered (a stream lost on a loaded machine) leaves the log silent for that
    // decision only, which says so and is not cached: such a decision is taken again, at most 3 times.
    const lightDecision = async (h: string) => {
      for (let n = 0; ; n++) {
        const d = await light.decisions.decide(h);
        if (d.unanswered.length === 0 || n === 3) return d;
        again++;
      }
    };
    const compare = async (path: string) => {
      const h = parseStorePath(path).hashPart;
      const [a, b] = await Promise.all([full.decisions.decide(h), lightDecision(h)]);
      const { light: fromLight, unanswered: _u, ...fullJson } = decisionJson(a);
      const { light: lightLogs, unanswered, ...lightJson } = decisionJson(b);
      t.deepEqual(unanswered, []);
      t.deepEqual(fromLight, []);
      t.is(lightLogs.length, 4);
      lightVotes += lightLogs.length;
      if (JSON.stringify(lightJson) !== JSON.stringify(fullJson)) t.deepEqual(lightJson, fullJson, h);
      if (fullJson.decided) decided++;
    };
    // A bounded number of paths in flight, each worker taking the next path as soon as it is done.
    const started = Date.now();
    const cpu = process.cpuUsage();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENT_PATHS }, async () => {
        while (next < paths.length) await compare(paths[next++]!);
      }),
    );
    const used = process.cpuUsage(cpu);
    t.is(lightVotes, paths.length * 4);
    // Not a vote where nothing is decided: most pool paths are (three honest builders agree).
    t.true(decided > pool.length / 2, `${decided} decided`);
    t.log(
      `${paths.length} paths (${lacked} lacked by some log), ${decided} decided, identical votes; ` +
        `${again} light decisions taken again; compared in ${((Date.now() - started) / 1000).toFixed(1)} s (${((used.user + used.system) / 1e6).toFixed(1)} s CPU)`,
    );
  },
);

test.serial(
  'a full node started on a complete copy provides it: a light node finds it while the builder is away',
  async (t) => {
    t.timeout(10 * 60_000, 'five nodes on a loaded machine');
    const boot = await node(t, 'boot', { role: 'bootstrap' });
    const builder = await node(t, 'mercury', { bootstrap: [dialAddress(boot.libp2p!)] });
    const started = await startTrustixNode((c) => t.teardown(c), 'full-user', {
      bootstrap: [dialAddress(boot.libp2p!)],
    });
    const { entries, pool } = builderEntries(100, 17);
    await publish(builder, entries[0]!);
    const size = entries[0]!.length;
    await waitFor('builder sequenced', () => builder.ownLog.size === size, { timeout: 60_000 });
    const logId = builder.ownLog.logId;
    await started.node.followed.follow(builder.keys.log.vkey);
    await waitFor('full copy', () => (started.node.follower!.status(logId)?.verifiedSize ?? 0) >= size, {
      timeout: 300_000,
      interval: 50,
    });
    // Everyone goes away; a new bootstrap node holds no provider record of before.
    await builder.stop();
    await started.node.stop();
    await boot.stop();
    const boot2 = await node(t, 'boot-2', { role: 'bootstrap' });
    const bootstrap = [dialAddress(boot2.libp2p!)];
    // It comes back with a new libp2p identity (peer.secret removed), so no provider record of before
    // names it: what a node holds when it starts must be provided, not only what it syncs afterwards.
    const moved = await tempDir('trustix-full-moved-');
    t.teardown(() => rm(moved, { recursive: true, force: true }));
    await cp(started.dataDir, moved, {
      recursive: true,
      filter: (src) => !/(peer\.secret|trustix\.sock)$/.test(src),
    });
    const full = new TrustixNode({
      dataDir: moved,
      ...FAST,
      p2p: { ...LOOPBACK_INIT, bootstrap },
    });
    await full.start();
    t.teardown(() => full.stop());
    const light = await node(t, 'light-user', { bootstrap });
    // The DHT is where a light node that heard no gossip of the log yet finds who holds it.
    const dht = new LogProviders({
      contentRouting: light.libp2p!.contentRouting,
      dhts: [],
      peerId: light.libp2p!.peerId,
    });
    dht.start();
    t.teardown(() => dht.stop());
    await waitFor(
      'the moved full node listed as a DHT provider of the log',
      async () => (await dht.findProviders(logId)).some((p) => p.equals(full.libp2p!.peerId)),
      { timeout: 120_000, interval: 500 },
    );
    await light.followed.follow(builder.keys.log.vkey, { light: true });
    await light.light!.whenVerified(logId, size);
    const held = pool.find((p) => entries[0]!.some((e) => e.includes(`;${p};`)))!;
    const d = await light.decisions.decide(parseStorePath(held).hashPart);
    t.deepEqual(d.unanswered, []);
    t.deepEqual(d.light, [full.followed.get(builder.keys.log.vkey)!.name]);
    t.is(d.votes.length, 1);
  },
);
