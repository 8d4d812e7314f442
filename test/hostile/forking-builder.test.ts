// Hostile builder, issue item 5: a builder that forks its log makes honest peers serving the other branch
// look like liars (their tiles fail against our checkpoint). Such a peer is first asked for its own signed
// checkpoint: one that conflicts with ours is fork evidence (the log becomes forked, the evidence spreads)
// and the peer is not blamed; a peer with no such checkpoint is banned for that log. Bans are per (peer,
// log): such a peer is left out as a source of that one log and stays connected and usable for every
// other log; only a peer caught on several logs at once is banned whole and refused by the connection
// gater. Real libp2p nodes on 127.0.0.1; before, one bad tile banned the peer whole for an hour, and an
// honest peer on the other branch was banned without its checkpoint being looked at.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import test, { type ExecutionContext } from 'ava';
import { TrustixNode } from '../../node/assembly/trustix-node.ts';
import { CheckpointMonitor } from '../../node/monitor/checkpoint-monitor.ts';
import { providingDhts } from '../../node/network/dhts.ts';
import { Gossip } from '../../node/network/gossip.ts';
import { LogProviders } from '../../node/network/log-providers.ts';
import { PeerBans } from '../../node/network/peer-bans.ts';
import { type Blame, SourceBlame } from '../../node/network/source-blame.ts';
import { TileExchange } from '../../node/network/tile-exchange.ts';
import { submit } from '../../node/socket/submit-client.js';
import { initDataDir } from '../../node/store/data-dir.ts';
import { openDatabase } from '../../node/store/database.ts';
import type { LogReader } from '../../node/store/log-reader.ts';
import { verifyEvidence } from '../../protocol/evidence.ts';
import { formatCheckpointMessage } from '../../protocol/gossip-message.ts';
import { formatNixSecretKey, generateNixSecretKey } from '../../protocol/keys.ts';
import { openLogFixture, tempDir } from '../helpers/log-fixture.ts';
import { FAST, startTrustixNode, type TestNodeInit } from '../helpers/node-fixture.ts';
import { dialAddress, LOOPBACK_INIT, startTestNode, waitFor } from '../helpers/p2p.ts';
import { syntheticEntries } from '../helpers/synthetic-entries.ts';
import { startTileServer, tampers } from '../helpers/tile-servers.ts';

const FORKED = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);

test('a peer serving the other branch of a forked log is banned for that log only, and stays connected', async (t) => {
  const bans = new PeerBans({ maxLogBans: 3 });
  const hangUps: string[] = [];
  bans.addEventListener('ban', (e) => hangUps.push((e as CustomEvent<{ peer: string }>).detail.peer));
  const victim = await startTestNode(t, { connectionGater: bans.gater() });
  const honest = await startTestNode(t);
  const peer = honest.peerId.toString();

  bans.banForLog(peer, FORKED, 'invalid data for the forked log');
  t.true(bans.isBanned(peer, FORKED));
  t.false(bans.isBanned(peer, OTHER), 'still a source of every other log');
  t.false(bans.isBanned(peer), 'not banned as a whole');
  t.deepEqual(hangUps, [], 'not cut off');
  const connection = await victim.dial(multiaddr(dialAddress(honest)));
  t.is(connection.remotePeer.toString(), peer, 'the gater lets it in');
});

test('a peer caught with bad data for maxLogBans logs at once is banned whole and refused by the gater', async (t) => {
  const bans = new PeerBans({ maxLogBans: 3 });
  const hangUps: string[] = [];
  bans.addEventListener('ban', (e) => hangUps.push((e as CustomEvent<{ peer: string }>).detail.peer));
  const victim = await startTestNode(t, { connectionGater: bans.gater() });
  const liar = await startTestNode(t);
  const peer = liar.peerId.toString();
  bans.banForLog(peer, 'c'.repeat(64), 'invalid');
  bans.banForLog(peer, 'd'.repeat(64), 'invalid');
  t.false(bans.isBanned(peer));
  bans.banForLog(peer, 'e'.repeat(64), 'invalid');
  t.true(bans.isBanned(peer));
  t.true(bans.isBanned(peer, OTHER));
  t.deepEqual(hangUps, [peer]);
  await t.throwsAsync(victim.dial(multiaddr(dialAddress(liar))));
});

test('per-log bans end on time and do not add up across their windows', (t) => {
  let now = 0;
  const bans = new PeerBans({ banMs: 1000, maxLogBans: 2, now: () => now });
  bans.banForLog('p', FORKED, 'x');
  now = 1000;
  t.false(bans.isBanned('p', FORKED), 'over');
  bans.banForLog('p', OTHER, 'x');
  t.false(bans.isBanned('p'), 'one log at a time is never a whole ban');
  t.true(bans.isBanned('p', OTHER));
});

async function node(t: ExecutionContext, name: string, init: TestNodeInit = {}) {
  return startTrustixNode((c) => t.teardown(c), name, init);
}

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

/** A plain libp2p peer that provides `logId` in the DHT and serves `reader` for it (and nothing else). */
async function servingPeer(t: ExecutionContext, bootstrap: string[], logId: string, reader: LogReader) {
  const peer = await startTestNode(t, { bootstrap });
  const tiles = new TileExchange({
    registrar: peer,
    logs: { get: (id) => (id === logId ? reader : undefined), list: () => [] },
  });
  await tiles.start();
  t.teardown(() => tiles.stop());
  const providers = new LogProviders({
    contentRouting: peer.contentRouting,
    dhts: providingDhts(peer),
    peerId: peer.peerId,
  });
  providers.start();
  t.teardown(() => providers.stop());
  providers.provide(logId);
  return peer;
}

test.serial(
  'a peer serving the other branch of a forked log gives fork evidence and is not banned; a peer serving garbage is',
  async (t) => {
    const boot = (await node(t, 'boot', { role: 'bootstrap' })).node;
    const bootstrap = [dialAddress(boot.libp2p!)];
    // The builder signs two histories of the same size with one key: it publishes A, and B is held (and
    // served, without gossip) by an honest peer that followed the builder while it was on B.
    const secret = generateNixSecretKey('jupiter-1');
    const keyFile = join(await tempDir('trustix-fork-key-'), 'log.secret');
    await writeFile(keyFile, formatNixSecretKey(secret), { mode: 0o600 });
    const builderDir = await tempDir('trustix-fork-builder-');
    await initDataDir(builderDir, { keyFile });
    const builder = new TrustixNode({ dataDir: builderDir, ...FAST, p2p: { ...LOOPBACK_INIT, bootstrap } });
    await builder.start();
    t.teardown(() => builder.stop());
    const size = 3000;
    const a = [...syntheticEntries(size, 1)];
    for (let i = 0; i < a.length; i += 1000)
      await submit(
        join(builderDir, 'trustix.sock'),
        a.slice(i, i + 1000).map((entry) => ({ kind: 'entry' as const, entry })),
      );
    await waitFor('A sequenced', () => builder.ownLog.size === size, { timeout: 60_000 });
    const logId = builder.ownLog.logId;
    const branchB = await openLogFixture({ secret, init: { maxPathEntries: Number.POSITIVE_INFINITY } });
    t.teardown(() => branchB.destroy());
    await branchB.append([...syntheticEntries(size, 2)]);
    t.is(branchB.store.logId, logId);
    t.is(branchB.store.size, size);

    const honest = await servingPeer(t, bootstrap, logId, branchB.store);
    const liar = await servingPeer(t, bootstrap, logId, lyingReader(builder.ownLog));

    // One log's worth of bad data bans a peer whole here, so a ban shows as a refused connection.
    const { node: victim } = await node(t, 'carol', { bootstrap, bans: { maxLogBans: 1 } });
    await waitFor(
      'A seen by the victim',
      async () => (await victim.monitor.logs()).some((s) => s.logId === logId && s.size === size),
      { timeout: 30_000 },
    );
    await waitFor(
      'three providers',
      async () => {
        const probe = new LogProviders({
          contentRouting: victim.libp2p!.contentRouting,
          dhts: [],
          peerId: victim.libp2p!.peerId,
        });
        return (await probe.findProviders(logId)).length >= 3;
      },
      { timeout: 30_000 },
    );
    const failed: string[] = [];
    victim.follower!.addEventListener('source-failed', (e) => failed.push(e.detail.sourceId));
    await victim.followed.follow(builder.keys.log.vkey);

    await waitFor(
      'fork evidence from the honest peer',
      async () => (await victim.monitor.evidence()).length > 0,
      {
        timeout: 90_000,
      },
    );
    await waitFor('the liar met', () => failed.includes(liar.peerId.toString()), { timeout: 90_000 });
    const [evidence] = await victim.monitor.evidence();
    t.is(verifyEvidence(evidence!.bytes).vkey, builder.keys.log.vkey);
    t.true(victim.monitor.isForked(logId));
    t.is(victim.follower!.status(logId)!.state, 'forked');
    t.true(failed.includes(honest.peerId.toString()), 'its tiles failed against our checkpoint');
    // The liar is banned (its checkpoint is ours: it has no excuse), so the victim refuses to dial it
    // (once its check is done); the honest peer is not: the victim still dials it.
    const p2p = victim.libp2p!;
    await waitFor(
      'the liar banned',
      () =>
        p2p.dial(liar.peerId).then(
          () => false,
          () => true,
        ),
      { timeout: 30_000 },
    );
    const connection = await p2p.dial(honest.peerId);
    t.is(connection.remotePeer.toString(), honest.peerId.toString());
  },
);

test('a peer on the other branch whose checkpoint is larger than anything we hold proves the fork from its tiles; a peer whose tiles do not match its own checkpoint is banned', async (t) => {
  // The builder signed A (3,000 entries), which we hold verified, and B (4,000 entries, other entries),
  // which an honest peer followed. B's checkpoint cannot be checked against our tree (larger) nor
  // against a checkpoint we hold (no size 4,000): the peer's tiles, checked against B's own signed root,
  // give B's root at 3,000, which differs from A's: two signed checkpoints that cannot both hold.
  const secret = generateNixSecretKey('saturn-1');
  const branchA = await openLogFixture({ secret });
  const branchB = await openLogFixture({ secret });
  t.teardown(() => branchA.destroy());
  t.teardown(() => branchB.destroy());
  await branchA.append([...syntheticEntries(3000, 1)]);
  await branchB.append([...syntheticEntries(4000, 2)]);
  const { key } = branchA;
  const logId = key.logId;

  const db = await openDatabase(join(await tempDir('trustix-fork-blame-'), 'db'));
  t.teardown(() => db.close());
  const monitor = new CheckpointMonitor({
    db,
    logs: { get: (id) => (id === logId ? branchA.store : undefined) },
    followed: (id) => id === logId,
  });
  await monitor.start();
  t.like(await monitor.validate(formatCheckpointMessage(key.vkey, branchA.store.checkpoint()!.note)), {
    decision: 'accept',
  });
  const p2p = await startTestNode(t);
  const gossip = new Gossip({ pubsub: p2p.services.pubsub, monitor });
  gossip.start();
  t.teardown(() => gossip.stop());

  const honest = await startTileServer(branchB.store);
  // Serves B's signed checkpoint, but level-0 hash tiles that are not B's.
  const liar = await startTileServer(branchB.store, { tamper: tampers.tileByte });
  t.teardown(() => honest.stop());
  t.teardown(() => liar.stop());
  const sources = new Map([honest.source, liar.source].map((s) => [s.id, s]));
  const banned: string[] = [];
  const blame = new SourceBlame({
    sourceOf: (id) => sources.get(id),
    keyOf: (id) => (id === logId ? key : undefined),
    monitor,
    publishEvidence: (bytes) => gossip.publishEvidence(bytes),
    ban: (id) => banned.push(id),
  });
  const judge = (sourceId: string): Promise<Blame> =>
    blame.judge({
      logId,
      sourceId,
      reason: 'invalid',
      error: new Error('tiles fail against our checkpoint'),
    });

  t.is(await judge(liar.source.id), 'banned', 'its tiles do not match its own signed checkpoint');
  t.deepEqual(banned, [liar.source.id]);
  t.false(monitor.isForked(logId), 'a liar proves nothing');

  t.is(await judge(honest.source.id), 'fork');
  t.deepEqual(banned, [liar.source.id], 'the honest peer is not banned');
  t.true(monitor.isForked(logId));
  const [evidence] = await monitor.evidence();
  const verified = verifyEvidence(evidence!.bytes);
  t.is(verified.vkey, key.vkey);
  t.deepEqual([verified.a.size, verified.b.size], [3000, 4000]);
});
