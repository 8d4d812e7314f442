/**
 * Keyless peers (docs/SECURITY.md): hostile peers scripted here, with nothing but fresh keys, against a
 * victim made of real components (libp2p on 127.0.0.1, gossipsub, the checkpoint monitor on LevelDB).
 */
import '../../node/runtime/promise-with-resolvers.ts';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TopicValidatorResult } from '@libp2p/gossipsub';
import { multiaddr } from '@multiformats/multiaddr';
import test, { type ExecutionContext } from 'ava';
import { TrustixNode } from '../../node/assembly/trustix-node.ts';
import { TileSourceError } from '../../node/errors.ts';
import { HttpServer } from '../../node/http/server.ts';
import { CheckpointMonitor, type CheckpointMonitorInit } from '../../node/monitor/checkpoint-monitor.ts';
import { dhtAddressMapper } from '../../node/network/dhts.ts';
import { Gossip, gossipScoreParams } from '../../node/network/gossip.ts';
import { GossipPenalties } from '../../node/network/gossip-penalties.ts';
import type { TrustixLibp2p } from '../../node/network/libp2p-services.ts';
import { Libp2pTileSource } from '../../node/network/libp2p-tile-source.ts';
import { subnetOf } from '../../node/network/subnet.ts';
import { TileExchange } from '../../node/network/tile-exchange.ts';
import type { TileExchangeInit } from '../../node/network/tile-exchange-init.ts';
import { LogRoutes } from '../../node/routes/logs.ts';
import { initDataDir } from '../../node/store/data-dir.ts';
import { type Database, openDatabase } from '../../node/store/database.ts';
import { monitorStateRange } from '../../node/store/layout.ts';
import type { LogReader } from '../../node/store/log-reader.ts';
import { LogStore } from '../../node/store/log-store.ts';
import { LogSync } from '../../node/sync/log-sync.ts';
import type { SourceFailedEvent } from '../../node/sync/tile-source.ts';
import { signCheckpoint } from '../../protocol/checkpoint.ts';
import { CHECKPOINT_TOPIC, EVIDENCE_TOPIC } from '../../protocol/constants.ts';
import { buildEvidence } from '../../protocol/evidence.ts';
import { formatCheckpointMessage } from '../../protocol/gossip-message.ts';
import { formatNixPublicKey, generateNixSecretKey, logKeyOf, logSigner } from '../../protocol/keys.ts';
import { formatVkey, keyHash, type NoteSigner } from '../../protocol/vkey.ts';
import { type LogFixture, openLogFixture, tempDir } from '../helpers/log-fixture.ts';
import { dialAddress, LOOPBACK_INIT, startTestNode, waitFor } from '../helpers/p2p.ts';
import { syntheticEntries } from '../helpers/synthetic-entries.ts';

const CLI = join(import.meta.dirname, '..', '..', 'cli', 'bin', 'trustix.js');

/** A checkpoint note of a brand-new key at `size` (a random root: nothing to check it against). */
function freshNote(size = 1) {
  const secret = generateNixSecretKey(`spam-${randomBytes(4).toString('hex')}`);
  const key = logKeyOf(secret);
  const sign = (root: Uint8Array) =>
    signCheckpoint({ origin: secret.name, size, root, extensions: [] }, logSigner(secret));
  return { key, note: sign(randomBytes(32)), other: () => sign(randomBytes(32)) };
}

interface Victim {
  readonly node: TrustixLibp2p;
  readonly db: Database;
  readonly monitor: CheckpointMonitor;
  /** Every validator result on `topic`, in order. */
  results(topic: string): TopicValidatorResult[];
}

async function startVictim(t: ExecutionContext, init: CheckpointMonitorInit = {}): Promise<Victim> {
  const penalties = new GossipPenalties();
  const node = await startTestNode(t, { gossipScoreParams: gossipScoreParams(penalties) });
  const db = await openDatabase(join(await tempDir('trustix-hostile-'), 'db'));
  const monitor = new CheckpointMonitor({ db, logs: { get: () => undefined }, followed: () => false }, init);
  await monitor.start();
  const gossip = new Gossip({ pubsub: node.services.pubsub, monitor, penalties });
  gossip.start();
  t.teardown(async () => {
    gossip.stop();
    await node.stop();
    await db.close();
  });
  // Records what the real validators decide, for the test to count.
  const seen = new Map<string, TopicValidatorResult[]>();
  for (const topic of [CHECKPOINT_TOPIC, EVIDENCE_TOPIC]) {
    const validator = node.services.pubsub.topicValidators.get(topic)!;
    seen.set(topic, []);
    node.services.pubsub.topicValidators.set(topic, async (peer, message) => {
      const result = await validator(peer, message);
      seen.get(topic)!.push(result);
      return result;
    });
  }
  return { node, db, monitor, results: (topic) => seen.get(topic)! };
}

/** A peer that publishes whatever it is told to (no validators of its own), meshed with the victim. */
async function startHostile(t: ExecutionContext, victim: Victim, topic: string): Promise<TrustixLibp2p> {
  const node = await startTestNode(t, { gossipScoreParams: gossipScoreParams() });
  node.services.pubsub.subscribe(topic);
  await node.dial(multiaddr(dialAddress(victim.node)));
  await waitFor('the victim in the hostile peer mesh', () =>
    node.services.pubsub.getMeshPeers(topic).includes(victim.node.peerId.toString()),
  );
  return node;
}

async function monitorStatesOnDisk(db: Database): Promise<number> {
  let n = 0;
  for await (const _ of db.keys(monitorStateRange())) n++;
  return n;
}

const count = (results: TopicValidatorResult[], r: TopicValidatorResult) =>
  results.filter((x) => x === r).length;

/** What the default peer budget (2/s, bursts of 20) lets through since `start`. */
const peerAllowance = (start: number) => 20 + Math.ceil((2 * (Date.now() - start)) / 1000);

test('fresh-key checkpoints past the peer budget are ignored, graylist the sender and never reach the disk', async (t) => {
  const victim = await startVictim(t);
  const hostile = await startHostile(t, victim, CHECKPOINT_TOPIC);
  const hostileId = hostile.peerId.toString();
  const total = 150;
  const start = Date.now();
  for (let i = 0; i < total; i++) {
    const { key, note } = freshNote();
    await hostile.services.pubsub.publish(CHECKPOINT_TOPIC, formatCheckpointMessage(key.vkey, note));
  }
  const results = victim.results(CHECKPOINT_TOPIC);
  // Gossipsub recomputes scores once a heartbeat (1 s).
  await waitFor('the hostile peer graylisted', () => victim.node.services.pubsub.getScore(hostileId) < -80, {
    timeout: 60_000,
  });
  const accepted = count(results, TopicValidatorResult.Accept);
  t.true(accepted <= peerAllowance(start), `accepted ${accepted} of ${results.length} fresh keys`);
  t.true(victim.monitor.size <= accepted);
  t.is(await monitorStatesOnDisk(victim.db), 0, 'logs nobody follows stay in memory');

  // An honest peer's new log still gets through.
  const honest = await startHostile(t, victim, CHECKPOINT_TOPIC);
  const before = results.length;
  const { key, note } = freshNote();
  await honest.services.pubsub.publish(CHECKPOINT_TOPIC, formatCheckpointMessage(key.vkey, note));
  await waitFor('the honest checkpoint validated', () => results.length > before);
  t.is(results.at(-1), TopicValidatorResult.Accept);
});

test('a crowd of fresh-key flooders that keeps the overall budget empty still graylists every one of them', async (t) => {
  // Each flooder alone spends the overall budget before its own: unless refused attempts count against
  // the sender, the overall budget shields every flooder from blame (and honest peers' new logs starve).
  // Four peers' bursts (4 * 20) exceed the overall one (40): the overall budget runs out first.
  const victim = await startVictim(t, { budget: { perSecond: 5, burst: 40 } });
  const hostiles = await Promise.all(
    Array.from({ length: 4 }, () => startHostile(t, victim, CHECKPOINT_TOPIC)),
  );
  await Promise.all(
    hostiles.map(async (hostile) => {
      for (let i = 0; i < 150; i++) {
        const { key, note } = freshNote();
        await hostile.services.pubsub.publish(CHECKPOINT_TOPIC, formatCheckpointMessage(key.vkey, note));
      }
    }),
  );
  const scores = () => hostiles.map((h) => victim.node.services.pubsub.getScore(h.peerId.toString()));
  await waitFor('every flooder graylisted', () => scores().every((s) => s < -80), { timeout: 30_000 }).catch(
    () => t.fail(`scores at the victim: ${scores().map((s) => s.toFixed(1))}`),
  );
  t.true(
    victim.monitor.size <= 40 + 5 * 30,
    `${victim.monitor.size} logs: no more than the overall budget admits`,
  );
});

test('fresh-key fork evidence past the peer budget is ignored and graylists the sender', async (t) => {
  const victim = await startVictim(t);
  const hostile = await startHostile(t, victim, EVIDENCE_TOPIC);
  const hostileId = hostile.peerId.toString();
  const total = 150;
  const start = Date.now();
  for (let i = 0; i < total; i++) {
    const { key, note, other } = freshNote(5);
    const evidence = buildEvidence(key.vkey, note, other(), []);
    await hostile.services.pubsub.publish(EVIDENCE_TOPIC, evidence.bytes);
  }
  const results = victim.results(EVIDENCE_TOPIC);
  await waitFor('the hostile peer graylisted', () => victim.node.services.pubsub.getScore(hostileId) < -80, {
    timeout: 60_000,
  });
  const accepted = count(results, TopicValidatorResult.Accept);
  t.true(accepted <= peerAllowance(start), `accepted ${accepted} of ${results.length} evidence documents`);
  t.is(await monitorStatesOnDisk(victim.db), 0, 'logs nobody follows stay in memory');
});

/**
 * `count` fresh logs the cheap way a spammer would: one Ed25519 key under many long names (each name
 * makes another vkey, so another log).
 */
function spamMessages(count: number): Uint8Array[] {
  const secret = generateNixSecretKey('spam');
  return Array.from({ length: count }, (_, i) => {
    const name = `spam-${i}-${'x'.repeat(200)}`;
    const signer: NoteSigner = {
      name,
      keyHash: keyHash(name, secret.publicKey),
      publicKey: secret.publicKey,
      key: secret.signingKey,
    };
    const note = signCheckpoint({ origin: name, size: 1, root: randomBytes(32), extensions: [] }, signer);
    return formatCheckpointMessage(formatVkey(name, secret.publicKey), note);
  });
}

test('thousands of fresh-key logs: `trustix logs` and /api/v1/logs answer a page, followed and own logs first', async (t) => {
  const dir = await tempDir('trustix-hostile-logs-');
  await initDataDir(dir, { name: 'victim-1' });
  // Budgets wide open: this test is about what piles up over hours, not about the rate.
  const open = { perSecond: 0, burst: 100_000 };
  const node = new TrustixNode({
    dataDir: dir,
    http: { port: 0 },
    p2p: LOOPBACK_INIT,
    monitor: { peerBudget: open, budget: open },
  });
  await node.start();
  t.teardown(async () => {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const { log: alpha } = await node.followed.follow(formatNixPublicKey(generateNixSecretKey('alpha')), {
    name: 'alpha',
  });
  // The flood, handed to the monitor as gossip from a peer (as the CHECKPOINT_TOPIC validator does).
  const total = 3000;
  for (const m of spamMessages(total))
    t.like(await node.monitor.validate(m, 'hostile-peer'), { decision: 'accept' });
  t.true(node.monitor.size >= total);

  const run = (...args: string[]) =>
    promisify(execFile)(process.execPath, [CLI, 'logs', '--data-dir', dir, ...args], {
      maxBuffer: 64 * 1024 * 1024,
    });
  const first = JSON.parse((await run('--json')).stdout);
  t.is(first.own.logId, node.ownLog.logId);
  t.deepEqual(
    first.followed.map((f: { name: string }) => f.name),
    ['alpha'],
  );
  t.is(first.seen.length, 100);
  t.is(first.seenTotal, total);
  t.false(
    first.seen.some((s: { logId: string }) => s.logId === alpha.logId || s.logId === node.ownLog.logId),
  );
  const second = JSON.parse((await run('--json', '--after', first.seenNext, '--limit', '1000')).stdout);
  t.is(second.seen.length, 1000);
  t.true(second.seen[0].logId > first.seen.at(-1).logId);
  const text = (await run()).stdout;
  t.regex(text, new RegExp(`seen on the network, not followed: ${total}`));
  t.regex(text, /more: trustix logs --after [0-9a-f]{64}/);

  const base = `http://127.0.0.1:${node.httpAddress().port}/api/v1/logs`;
  const page = (await (await fetch(`${base}?limit=5`)).json()) as { seen: unknown[]; seenNext: string };
  t.is(page.seen.length, 5);
  t.regex(page.seenNext, /^[0-9a-f]{64}$/);
  t.is((await fetch(`${base}?limit=0`)).status, 400);
  t.is((await fetch(`${base}?after=nope`)).status, 400);
});

/** A libp2p node serving `reader` on the tile exchange; its tile source as seen from `client`. */
async function tileServer(
  t: ExecutionContext,
  client: TrustixLibp2p,
  reader: LogReader,
  init: TileExchangeInit = {},
) {
  const node = await startTestNode(t);
  const exchange = new TileExchange(
    {
      registrar: node,
      logs: { get: (id) => (id === reader.logId ? reader : undefined), list: () => [reader] },
    },
    init,
  );
  await exchange.start();
  t.teardown(() => exchange.stop());
  return new Libp2pTileSource({ dialer: client }, { peer: multiaddr(dialAddress(node)) });
}

async function publishedLog(t: ExecutionContext, size: number): Promise<LogFixture> {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  const entries = [...syntheticEntries(size, 7)];
  for (let i = 0; i < size; i += 1000) await log.append(entries.slice(i, i + 1000));
  return log;
}

test('eclipse: a provider that shows the log’s checkpoint but answers "not found" for its tiles is dropped as withholding', async (t) => {
  const log = await publishedLog(t, 1500);
  const victim = await startTestNode(t);
  // The sybil replays the real (public) checkpoint and withholds every tile.
  const sybil = await tileServer(t, victim, {
    logId: log.store.logId,
    key: log.key,
    checkpoint: () => log.store.checkpoint(),
    readTile: async () => undefined,
  });
  const honest = await tileServer(t, victim, log.store);
  const db = await openDatabase(join(await tempDir('trustix-eclipse-'), 'db'));
  t.teardown(() => db.close());
  const store = await LogStore.open(db, log.key);
  const sync = new LogSync({ db, store, sources: [sybil, honest] }, { perSourceConcurrency: 1 });
  const failures: SourceFailedEvent[] = [];
  sync.addEventListener('source-failed', (e) => failures.push((e as CustomEvent<SourceFailedEvent>).detail));
  const result = await sync.run(log.store.checkpoint()!);
  t.is(result.toSize, 1500);
  t.deepEqual(
    failures.map((f) => [f.sourceId, f.reason]),
    [[sybil.id, 'withheld']],
  );
});

test('eclipse: with no peer to serve the log, the static HTTP mirror named in the config syncs it', async (t) => {
  const log = await publishedLog(t, 600);
  // The builder's own HTTP server is the mirror (any static copy of logs/<log ID>/... would do).
  const dir = await tempDir('trustix-mirror-');
  await initDataDir(dir, { name: 'victim-2' });
  const http = new HttpServer({}, { port: 0 });
  http.register(
    new LogRoutes({
      logs: { get: (id) => (id === log.store.logId ? log.store : undefined), list: () => [log.store] },
    }),
  );
  await http.start();
  t.teardown(() => http.stop());
  const mirror = `http://127.0.0.1:${http.address().port}/`;
  const node = new TrustixNode({
    dataDir: dir,
    http: false,
    p2p: LOOPBACK_INIT,
    sources: { mirrors: { [log.store.logId]: [mirror] } },
    // Nobody provides the log: do not wait long for the DHT to say so.
    providers: { findTimeoutMs: 200 },
  });
  await node.start();
  t.teardown(async () => {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await node.followed.follow(log.key.vkey, { name: 'mirrored' });
  const synced = new Promise<void>((resolve) =>
    node.follower!.addEventListener('synced', () => resolve(), { once: true }),
  );
  // No peer has the log (nobody provides it); the follower learns the checkpoint from the mirror.
  t.is(await node.follower!.refresh(log.store.logId), 600);
  await synced;
  t.is(node.follower!.get(log.store.logId)?.size, 600);
});

test('tile exchange: many peer IDs from one subnet share its budget; answers beyond the bytes in flight, to all or to one peer, are busy', async (t) => {
  const log = await publishedLog(t, 600);
  const server = await startTestNode(t);
  const exchange = new TileExchange(
    {
      registrar: server,
      logs: { get: (id) => (id === log.store.logId ? log.store : undefined), list: () => [log.store] },
    },
    { maxRequestsPerSubnet: 10, rateWindowMs: 60_000, limitLoopback: true },
  );
  await exchange.start();
  t.teardown(() => exchange.stop());
  const addr = multiaddr(dialAddress(server));
  // A keyless attacker: four fresh peer IDs on one address, each far below the per-peer budget.
  const clients = await Promise.all([0, 1, 2, 3].map(() => startTestNode(t)));
  const outcomes: string[] = [];
  for (const client of clients) {
    const source = new Libp2pTileSource({ dialer: client }, { peer: addr });
    for (let i = 0; i < 5; i++)
      outcomes.push(
        await source.checkpoint(log.store.logId).then(
          () => 'ok',
          (err: unknown) => (err instanceof TileSourceError ? err.reason : String(err)),
        ),
      );
  }
  // (On a loaded machine a request may also time out: count what was answered.)
  const ok = outcomes.filter((o) => o === 'ok').length;
  t.true(
    ok <= 10 &&
      outcomes.filter((o) => o === 'busy').length >=
        20 - 10 - outcomes.filter((o) => o !== 'ok' && o !== 'busy').length,
    outcomes.join(' '),
  );

  // A full hash tile (8 KiB) does not fit 4 KiB of answers in flight; a checkpoint does.
  const client = await startTestNode(t);
  const small = await tileServer(t, client, log.store, { maxBytesInFlight: 4096 });
  t.truthy(await small.checkpoint(log.store.logId));
  const err = await t.throwsAsync(
    small.tiles(log.store.logId, [{ kind: 'hash', level: 0, index: 0, width: 256 }]),
    { instanceOf: TileSourceError },
  );
  t.is(err?.reason, 'busy');

  // The same, per peer (a session holds up to 64 answers made and not yet written): a hash tile does
  // not fit 1,000 bytes in flight to one peer; checkpoints (~170 bytes) do, one after another, their
  // bytes given back once written (ten in a row would pass 1,000 otherwise).
  const perPeer = await tileServer(t, client, log.store, { maxBytesInFlightPerPeer: 1000 });
  for (let i = 0; i < 10; i++) t.truthy(await perPeer.checkpoint(log.store.logId), `checkpoint ${i}`);
  const tileErr = await t.throwsAsync(
    perPeer.tiles(log.store.logId, [{ kind: 'hash', level: 0, index: 0, width: 256 }]),
    { instanceOf: TileSourceError },
  );
  t.is(tileErr?.reason, 'busy');
  t.truthy(await perPeer.checkpoint(log.store.logId));
  t.is(subnetOf('/ip4/203.0.113.7/tcp/8566'), '203.0.113.0/24');
  t.is(subnetOf('/ip6/2001:db8:1:2::5/tcp/8566'), '2001:db8:1::/48');
  t.is(subnetOf('/ip4/127.0.0.1/tcp/1'), undefined, 'loopback is exempt by default');
});

test('DHT: a stranger’s private addresses are kept only while this node is on a private network itself', async (t) => {
  // Addresses are only filtered here, never dialled (so public-looking ones are safe to name).
  const peer = (await startTestNode(t)).peerId;
  const record = {
    id: peer,
    multiaddrs: ['/ip4/10.0.0.5/tcp/22', '/ip4/192.168.1.1/tcp/80', '/ip4/93.184.216.35/tcp/8566'].map((a) =>
      multiaddr(a),
    ),
  };
  const kept = (own: string[]) =>
    dhtAddressMapper('auto', () => own.map((a) => multiaddr(a)))(record).multiaddrs.map(String);
  t.is(kept(['/ip4/127.0.0.1/tcp/8566', '/ip4/192.168.1.7/tcp/8566']).length, 3, 'a LAN or loopback node');
  t.deepEqual(kept(['/ip4/127.0.0.1/tcp/8566', '/ip4/93.184.216.34/tcp/8566']), [
    '/ip4/93.184.216.35/tcp/8566',
  ]);
  // The test nodes themselves (loopback only) keep loopback addresses, as every test network needs.
  t.is(
    dhtAddressMapper('auto', () => [multiaddr('/ip4/127.0.0.1/tcp/1')])({
      id: peer,
      multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/2')],
    }).multiaddrs.length,
    1,
  );
  // Our own addresses are asked once for many peers (libp2p computes them anew each time), not per peer.
  let asked = 0;
  const mapper = dhtAddressMapper('auto', () => {
    asked++;
    return [multiaddr('/ip4/93.184.216.34/tcp/8566')];
  });
  for (let i = 0; i < 100; i++) t.is(mapper(record).multiaddrs.length, 1);
  t.is(asked, 1);
});
