// A split view shown to a light node (no witness quorum): the builder's key signs two histories; the light
// node is shown the first, then a larger checkpoint of the second. Real LevelDB for both histories and for
// the light node, real libp2p for the tile exchange the light node checks consistency over. The light node
// does not move to the second view: its check finds the older root disagreeing with the newer tree, the
// monitor makes fork evidence (which gossip spreads, as a full node's), and the log is forked for the vote.
// And evidence made elsewhere (a full follower's) marks a light log forked when it arrives by gossip.
import '../node/runtime/promise-with-resolvers.ts';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import test from 'ava';
import { CheckpointMonitor } from '../node/monitor/checkpoint-monitor.ts';
import type { ForkEvent } from '../node/monitor/checkpoint-verdict.ts';
import { Libp2pTileSource } from '../node/network/libp2p-tile-source.ts';
import { LightLogs } from '../node/network/light-logs.ts';
import { LookupClient } from '../node/network/lookup-client.ts';
import { PeerBans } from '../node/network/peer-bans.ts';
import { TileExchange } from '../node/network/tile-exchange.ts';
import { openDatabase } from '../node/store/database.ts';
import { FollowedLogs } from '../node/store/followed-logs.ts';
import { verifyEvidence } from '../protocol/evidence.ts';
import { formatCheckpointMessage } from '../protocol/gossip-message.ts';
import { generateNixSecretKey } from '../protocol/keys.ts';
import { openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { dialAddress, startTestNode } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

test('a light node shown a split view does not move to it: its consistency check makes fork evidence', async (t) => {
  const secret = generateNixSecretKey('janus');
  const shown = await openLogFixture({ secret });
  const other = await openLogFixture({ secret });
  t.teardown(() => shown.destroy());
  t.teardown(() => other.destroy());
  const common = [...syntheticEntries(300, 1)];
  await shown.append([...common, ...syntheticEntries(100, 2)]);
  await other.append([...common, ...syntheticEntries(300, 3)]);
  const key = shown.key;

  // A peer serving the second history over the tile exchange.
  const server = await startTestNode(t);
  const tiles = new TileExchange({
    registrar: server,
    logs: { get: (id) => (id === key.logId ? other.store : undefined), list: () => [other.store] },
  });
  await tiles.start();
  t.teardown(() => tiles.stop());

  // The light node.
  const dir = await tempDir('trustix-light-');
  const db = await openDatabase(join(dir, 'db'));
  t.teardown(() => db.close());
  const followed = await FollowedLogs.open(db);
  await followed.follow(key.vkey, { light: true });
  const monitor = new CheckpointMonitor({
    db,
    logs: { get: () => undefined },
    followed: (id) => !!followed.get(id),
  });
  await monitor.start();
  const client = await startTestNode(t);
  const bans = new PeerBans();
  const lookups = new LookupClient({
    dialer: client,
    providers: { findProviders: async () => [] },
    peerId: client.peerId,
    bans,
  });
  const source = new Libp2pTileSource({ dialer: client }, { peer: multiaddr(dialAddress(server)) });
  const light = new LightLogs(
    { followed, monitor, lookups, sourcesFor: async () => [source], onSourceFailed: () => {} },
    { retryDelayMs: 100 },
  );
  await light.start();
  t.teardown(() => light.stop());
  const forks: ForkEvent[] = [];
  monitor.addEventListener('fork', (e) => forks.push(e.detail));

  // First the history shown to it (trust on first use), then a larger checkpoint of the other one.
  const first = await monitor.validate(
    formatCheckpointMessage(key.vkey, shown.store.checkpoint()!.note),
    'peer-a',
  );
  t.like(first, { decision: 'accept', consistency: 'first' });
  await light.whenVerified(key.logId, 400);
  const forked = new Promise<void>((resolve) =>
    monitor.addEventListener('fork', () => resolve(), { once: true }),
  );
  const second = await monitor.validate(
    formatCheckpointMessage(key.vkey, other.store.checkpoint()!.note),
    'peer-b',
  );
  t.like(second, { decision: 'accept', consistency: 'pending' });
  await forked;

  t.true(monitor.isForked(key.logId));
  t.is(light.verifiedSize(key.logId), 400, 'still on the view it verified');
  t.is(light.status(key.logId)?.state, 'forked');
  t.is(forks.length, 1);
  t.is(forks[0]!.source, 'made', 'made here: gossip publishes it on the evidence topic');
  const evidence = verifyEvidence(forks[0]!.evidence.bytes);
  t.deepEqual([evidence.a.size, evidence.b.size].sort(), [400, 600]);

  // The same evidence, arriving by gossip at another light node that saw only the first view.
  const dir2 = await tempDir('trustix-light-');
  const db2 = await openDatabase(join(dir2, 'db'));
  t.teardown(() => db2.close());
  const followed2 = await FollowedLogs.open(db2);
  await followed2.follow(key.vkey, { light: true });
  const monitor2 = new CheckpointMonitor({ db: db2, logs: { get: () => undefined }, followed: () => true });
  await monitor2.start();
  await monitor2.validate(formatCheckpointMessage(key.vkey, shown.store.checkpoint()!.note), 'peer-a');
  t.false(monitor2.isForked(key.logId));
  t.like(await monitor2.receiveEvidence(forks[0]!.evidence.bytes, 'peer-c'), {
    decision: 'accept',
    outcome: 'forked',
  });
  t.true(monitor2.isForked(key.logId));
});
