/**
 * The peer-to-peer network end to end, with real nodes on 127.0.0.1: one bootstrap node, three builders
 * and two followers that know only the bootstrap address. Followers learn the builders' logs from gossip,
 * find who serves them through the DHT, sync and verify them, and resume after a restart.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { TrustixNode, type TrustixNodeInit } from '../node/assembly/trustix-node.ts';
import { providingDhts } from '../node/network/dhts.ts';
import { LogProviders } from '../node/network/log-providers.ts';
import { TileExchange } from '../node/network/tile-exchange.ts';
import { submit } from '../node/socket/submit-client.js';
import { initDataDir } from '../node/store/data-dir.ts';
import type { LogReader } from '../node/store/log-reader.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import type { SourceFailedEvent } from '../node/sync/tile-source.ts';
import { verifyEvidence } from '../protocol/evidence.ts';
import { formatNixSecretKey, generateNixSecretKey } from '../protocol/keys.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { FAST, startTrustixNode, type TestNodeInit } from './helpers/node-fixture.ts';
import { dialAddress, LOOPBACK_INIT, startTestNode, waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix.js');

async function node(t: ExecutionContext, name: string, init: TestNodeInit = {}): Promise<TrustixNode> {
  return (await startTrustixNode((c) => t.teardown(c), name, init)).node;
}

/** Hands entries to a builder over its control socket, in requests under the socket's 1 MiB cap. */
async function publishEntries(builder: TrustixNode, entries: readonly string[]): Promise<void> {
  for (let i = 0; i < entries.length; i += 1000)
    await submit(
      join(dataDirOf(builder), 'trustix.sock'),
      entries.slice(i, i + 1000).map((entry) => ({ kind: 'entry' as const, entry })),
    );
}

/** `promise`, or a clear failure after `ms` (a stuck sync must fail the test, not hang the run). */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Waits until `f` holds `logId` verified up to `size`. Not Follower.whenSynced: that rejects at the first
 * failed attempt, and on a loaded machine a first attempt may fail (a provider not in the DHT yet, a
 * request timing out) before the follower's retry succeeds, which is the behaviour under test.
 */
function synced(f: TrustixNode, logId: string, size: number): Promise<void> {
  return waitFor(
    `${logId.slice(0, 8)} verified to ${size}`,
    () => {
      const s = f.follower!.status(logId);
      if (s?.state === 'forked') throw new Error(`log ${logId} is forked`);
      return (s?.verifiedSize ?? 0) >= size;
    },
    { timeout: 90_000, interval: 50 },
  );
}

function dataDirOf(n: TrustixNode): string {
  return (n as unknown as { init: TrustixNodeInit }).init.dataDir;
}

test.serial(
  'followers that know only a bootstrap node discover, sync, verify and keep up with three builders',
  async (t) => {
    const boot = await node(t, 'boot', { role: 'bootstrap' });
    const bootstrap = [dialAddress(boot.libp2p!)];
    const builders = await Promise.all(
      ['mercury', 'venus', 'saturn'].map((name) => node(t, name, { bootstrap })),
    );
    const followers = await Promise.all(['alice', 'bob'].map((name) => node(t, name, { bootstrap })));

    const sizes = [700, 300, 1];
    for (const [i, b] of builders.entries()) {
      const entries = [...syntheticEntries(sizes[i]!, 100 + i)];
      await publishEntries(b, entries);
    }
    await waitFor('builders sequenced', () => builders.every((b, i) => b.ownLog.size === sizes[i]));

    // Gossip alone tells the followers about every log (they follow nothing yet).
    await waitFor(
      'every log seen by both followers',
      async () => {
        for (const f of followers) {
          const seen = await f.monitor.logs();
          if (
            !builders.every((b) => seen.some((s) => s.logId === b.ownLog.logId && s.size === b.ownLog.size))
          )
            return false;
        }
        return true;
      },
      { timeout: 30_000 },
    );

    for (const f of followers) for (const b of builders) await f.followed.follow(b.keys.log.vkey);
    for (const f of followers)
      for (const [i, b] of builders.entries()) await synced(f, b.ownLog.logId, sizes[i]!);
    for (const f of followers) {
      for (const [i, b] of builders.entries()) {
        const copy = f.follower!.get(b.ownLog.logId)!;
        t.is(copy.size, sizes[i]!);
        t.like(await verifyLog(copy), { size: sizes[i]! });
        t.deepEqual(Buffer.from(copy.root), Buffer.from(b.ownLog.root));
      }
    }

    // The builders keep building; the followers keep up from gossip.
    const more = [...syntheticEntries(500, 999)];
    await publishEntries(builders[0]!, more);
    await waitFor('mercury at 1200', () => builders[0]!.ownLog.size === 1200);
    for (const f of followers) await synced(f, builders[0]!.ownLog.logId, 1200);
    t.pass();
  },
);

/** A LogReader that serves `log` but flips a byte in every entry bundle: a provider that lies. */
function lyingReader(log: LogReader): LogReader {
  return {
    logId: log.logId,
    key: log.key,
    checkpoint: () => log.checkpoint(),
    async readTile(tile) {
      const body = await log.readTile(tile);
      if (body === undefined || tile.kind !== 'entries') return body;
      const bad = Uint8Array.from(body);
      bad[bad.length - 3]! ^= 1;
      return bad;
    },
  };
}

test.serial(
  'a provider serving altered entries is dropped; the sync completes from the honest one; a restarted follower resumes',
  async (t) => {
    const boot = await node(t, 'boot', { role: 'bootstrap' });
    const bootstrap = [dialAddress(boot.libp2p!)];
    const builder = await node(t, 'mars', { bootstrap });
    const entries = [...syntheticEntries(2000, 7)];
    await publishEntries(builder, entries);
    await waitFor('mars sequenced', () => builder.ownLog.size === 2000);
    const logId = builder.ownLog.logId;

    // The liar: a plain libp2p node that provides mars's log and serves it with altered bundles.
    const liar = await startTestNode(t, { bootstrap });
    const liarTiles = new TileExchange({
      registrar: liar,
      logs: { get: (id) => (id === logId ? lyingReader(builder.ownLog) : undefined), list: () => [] },
    });
    await liarTiles.start();
    t.teardown(() => liarTiles.stop());
    const liarProviders = new LogProviders({
      contentRouting: liar.contentRouting,
      dhts: providingDhts(liar),
      peerId: liar.peerId,
    });
    liarProviders.start();
    t.teardown(() => liarProviders.stop());
    liarProviders.provide(logId);

    const follower = await node(t, 'carol', { bootstrap });
    const failed: SourceFailedEvent[] = [];
    follower.follower!.addEventListener('source-failed', (e) => failed.push(e.detail));
    // Wait until the DHT knows both providers, so the sync really meets the liar.
    await waitFor(
      'two providers',
      async () => {
        const probe = new LogProviders({
          contentRouting: follower.libp2p!.contentRouting,
          dhts: [],
          peerId: follower.libp2p!.peerId,
        });
        return (await probe.findProviders(logId)).length >= 2;
      },
      { timeout: 30_000 },
    );
    await follower.followed.follow(builder.keys.log.vkey);
    await synced(follower, logId, 2000);
    t.like(await verifyLog(follower.follower!.get(logId)!), { size: 2000 });
    t.true(
      failed.some(
        (f) => f.sourceId === liar.peerId.toString() && (f.reason === 'invalid' || f.reason === 'malformed'),
      ),
      `the liar was caught: ${JSON.stringify(failed.map((f) => [f.sourceId, f.reason]))}`,
    );
    // Banned as a source of this log (bad data for one log is not enough to cut a peer off: it may
    // serve the other branch of a fork, docs/SECURITY.md); whole-peer bans: test/hostile/forking-builder.
    t.false(follower.follower!.status(logId)!.sources.includes(liar.peerId.toString()));

    // Restart the follower while the builder moves on: it resumes from what it holds.
    const dir = dataDirOf(follower);
    await follower.stop();
    // While it is stopped, `trustix verify <log>` recomputes the followed copy from its entries.
    const { stdout } = await exec(process.execPath, [
      CLI,
      'verify',
      builder.keys.log.vkey,
      '--data-dir',
      dir,
      '--json',
    ]);
    t.like(JSON.parse(stdout), { ok: true, size: 2000, logId });
    const more = [...syntheticEntries(600, 8)];
    await publishEntries(builder, more);
    await waitFor('mars at 2600', () => builder.ownLog.size === 2600);
    const again = new TrustixNode({ dataDir: dir, ...FAST, p2p: { ...LOOPBACK_INIT, bootstrap } });
    await again.start();
    t.teardown(() => again.stop());
    t.is(again.follower!.get(logId)!.size, 2000, 'what was synced before the restart is still there');
    await synced(again, logId, 2600);
    t.like(await verifyLog(again.follower!.get(logId)!), { size: 2600 });
  },
);

test.serial(
  'a cloned log key publishing two histories: every node ends with verified evidence and the log forked',
  async (t) => {
    const boot = await node(t, 'boot', { role: 'bootstrap' });
    const bootstrap = [dialAddress(boot.libp2p!)];
    // Two builders share one log key (a stolen or cloned key) and log different builds.
    const keyDir = await tempDir('trustix-clone-key-');
    const keyFile = join(keyDir, 'log.secret');
    await writeFile(keyFile, formatNixSecretKey(generateNixSecretKey('jupiter-1')), { mode: 0o600 });
    const clones: TrustixNode[] = [];
    for (const name of ['jupiter-a', 'jupiter-b']) {
      const dataDir = await tempDir(`trustix-net-${name}-`);
      await initDataDir(dataDir, { keyFile });
      const n = new TrustixNode({ dataDir, ...FAST, p2p: { ...LOOPBACK_INIT, bootstrap } });
      await n.start();
      t.teardown(() => n.stop());
      clones.push(n);
    }
    const watcher = await node(t, 'dave', { bootstrap });
    await publishEntries(clones[0]!, [...syntheticEntries(40, 1)]);
    await publishEntries(clones[1]!, [...syntheticEntries(40, 2)]);
    const logId = clones[0]!.ownLog.logId;
    t.is(clones[1]!.ownLog.logId, logId);

    const everyone = [boot, ...clones, watcher];
    await within(
      60_000,
      'evidence everywhere',
      waitFor(
        'evidence on every node',
        async () => {
          for (const n of everyone) if ((await n.monitor.evidence()).length === 0) return false;
          return true;
        },
        { timeout: 60_000 },
      ),
    );
    for (const n of everyone) {
      t.true(n.monitor.isForked(logId));
      const [evidence] = await n.monitor.evidence();
      // Anyone can check it with nothing but the document: both notes are signed by the one key.
      t.is(verifyEvidence(evidence!.bytes).vkey, clones[0]!.keys.log.vkey);
    }
  },
);
