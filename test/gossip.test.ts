/**
 * Checkpoint and evidence gossip between real libp2p nodes on 127.0.0.1, each with its own checkpoint
 * monitor on its own LevelDB: new checkpoints spread, invalid ones cost the sender its score, and a
 * log that signs two histories is exposed on every node.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CheckpointMonitor } from '../node/monitor/checkpoint-monitor.ts';
import type { CheckpointEvent, ForkEvent } from '../node/monitor/checkpoint-verdict.ts';
import { Gossip, gossipScoreParams } from '../node/network/gossip.ts';
import type { TrustixLibp2p } from '../node/network/libp2p-services.ts';
import { openDatabase } from '../node/store/database.ts';
import { CHECKPOINT_TOPIC } from '../protocol/constants.ts';
import { openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { startTestNetwork, waitFor, waitForConnections } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

interface Member {
  readonly node: TrustixLibp2p;
  readonly monitor: CheckpointMonitor;
  readonly gossip: Gossip;
  readonly seen: CheckpointEvent[];
  readonly forks: ForkEvent[];
}

async function member(t: ExecutionContext, node: TrustixLibp2p): Promise<Member> {
  const db = await openDatabase(join(await tempDir('trustix-gossip-'), 'db'));
  const monitor = new CheckpointMonitor({ db, logs: { get: () => undefined } });
  await monitor.start();
  const gossip = new Gossip({ pubsub: node.services.pubsub, monitor });
  gossip.start();
  const seen: CheckpointEvent[] = [];
  const forks: ForkEvent[] = [];
  monitor.addEventListener('checkpoint', (e) => seen.push(e.detail));
  monitor.addEventListener('fork', (e) => forks.push(e.detail));
  t.teardown(async () => {
    gossip.stop();
    await node.stop();
    await db.close();
  });
  return { node, monitor, gossip, seen, forks };
}

async function network(t: ExecutionContext, n: number): Promise<Member[]> {
  const net = await startTestNetwork(t, n, { gossipScoreParams: gossipScoreParams() });
  const members = await Promise.all(net.nodes.map((node) => member(t, node)));
  await waitForConnections(net.nodes, 2);
  // Every member must have a mesh peer before publishing, or the first message has nowhere to go.
  await waitFor('a checkpoint mesh', () =>
    net.nodes.every((x) => x.services.pubsub.getMeshPeers(CHECKPOINT_TOPIC).length > 0),
  );
  return members;
}

test('a new checkpoint reaches every node and is accepted; the same again is ignored', async (t) => {
  const [a, b, c] = await network(t, 3);
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  await log.append([...syntheticEntries(50, 1)]);
  const note = log.store.checkpoint()!.note;
  await a!.gossip.publishCheckpoint(log.key.vkey, note);
  await waitFor('the checkpoint on b and c', () => b!.seen.length > 0 && c!.seen.length > 0);
  t.is(b!.seen[0]!.logId, log.key.logId);
  t.is(c!.seen[0]!.checkpoint.size, 50);
  await a!.gossip.publishCheckpoint(log.key.vkey, note);
  await new Promise((r) => setTimeout(r, 300));
  t.is(b!.seen.length, 1, 'a duplicate is not a new checkpoint');
});

test('a malformed checkpoint is rejected and drives its sender below the graylist', async (t) => {
  const [rogue, b] = await network(t, 2);
  // The rogue bypasses its own monitor and publishes garbage straight to the topic.
  await rogue!.node.services.pubsub.publish(CHECKPOINT_TOPIC, new TextEncoder().encode('not a checkpoint\n'));
  const rogueId = rogue!.node.peerId.toString();
  await waitFor('a score penalty', () => b!.node.services.pubsub.getScore(rogueId) < -80);
  t.true(b!.node.services.pubsub.getScore(rogueId) < -80);
  t.is(b!.seen.length, 0);
});

test('two checkpoints of one size with different roots: every node holds evidence and marks the log forked', async (t) => {
  const [a, b, c, d] = await network(t, 4);
  const honest = await openLogFixture();
  t.teardown(() => honest.destroy());
  const forged = await openLogFixture({ secret: honest.secret });
  t.teardown(() => forged.destroy());
  await honest.append([...syntheticEntries(20, 1)]);
  await forged.append([...syntheticEntries(20, 2)]);
  await a!.gossip.publishCheckpoint(honest.key.vkey, honest.store.checkpoint()!.note);
  await waitFor('the honest checkpoint everywhere', () => [b, c, d].every((m) => m!.seen.length > 0));
  // Another node publishes the other history (its monitor has seen the first one: it still spreads forks).
  await b!.node.services.pubsub.publish(
    CHECKPOINT_TOPIC,
    Buffer.concat([Buffer.from(`${honest.key.vkey}\n`), forged.store.checkpoint()!.note]),
  );
  await waitFor('the fork known everywhere', () =>
    [a, c, d].every((m) => m!.monitor.isForked(honest.key.logId)),
  );
  // The flag is set before the evidence write completes: wait for the stored document too.
  await waitFor('stored evidence', async () => (await d!.monitor.evidence()).length > 0);
  const evidence = (await d!.monitor.evidence())[0]!;
  t.is(evidence.a.size, 20);
  t.is(evidence.vkey, honest.key.vkey);
});
