/**
 * Checkpoint catch-up between real libp2p nodes on 127.0.0.1, each with its own checkpoint monitor on its
 * own LevelDB: a node that joins after a checkpoint was gossiped, and whose only peer is not the log's
 * builder (stopped by then), learns it on connect; hostile answers are refused and cost the peer its
 * gossip score, as an invalid gossip message would.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { join } from 'node:path';
import { lpStream } from '@libp2p/utils';
import test, { type ExecutionContext } from 'ava';
import { CheckpointMonitor } from '../node/monitor/checkpoint-monitor.ts';
import type { NewestEvent } from '../node/monitor/checkpoint-verdict.ts';
import { type CatchupAnswer, CatchupClient } from '../node/network/catchup-client.ts';
import { CatchupService } from '../node/network/catchup-service.ts';
import { Gossip, gossipScoreParams } from '../node/network/gossip.ts';
import { GossipPenalties } from '../node/network/gossip-penalties.ts';
import type { TrustixLibp2p } from '../node/network/libp2p-services.ts';
import { openDatabase } from '../node/store/database.ts';
import {
  encodeCatchupRequest,
  encodeCatchupResponse,
  parseCatchupRequest,
  parseCatchupResponse,
} from '../protocol/checkpoint-catchup.ts';
import {
  CATCHUP_PROTOCOL,
  CATCHUP_STATUS,
  CHECKPOINT_TOPIC,
  MAX_CATCHUP_RESPONSE_BYTES,
} from '../protocol/constants.ts';
import { MalformedError } from '../protocol/errors.ts';
import { formatCheckpointMessage } from '../protocol/gossip-message.ts';
import { type LogFixture, openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { dialAddress, startTestNode, waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

interface Member {
  readonly node: TrustixLibp2p;
  readonly monitor: CheckpointMonitor;
  readonly gossip: Gossip;
  readonly penalties: GossipPenalties;
  readonly client: CatchupClient | undefined;
  readonly newest: NewestEvent[];
  readonly answers: CatchupAnswer[];
  /** Leaves the network (once; the teardown does it otherwise). */
  stop(): Promise<void>;
}

/**
 * A node as node/assembly/network-gossip.ts assembles it for checkpoints: gossip, the catch-up server, and (unless
 * `client` is false) the catch-up client asking about `follows`.
 */
async function member(
  t: ExecutionContext,
  /** `follows` is read on every use: a test may add to it. */
  options: { follows?: readonly string[]; bootstrap?: string; client?: boolean; intervalMs?: number } = {},
): Promise<Member> {
  const follows = options.follows ?? [];
  const penalties = new GossipPenalties();
  const node = await startTestNode(t, {
    gossipScoreParams: gossipScoreParams(penalties),
    ...(options.bootstrap && { bootstrap: [options.bootstrap] }),
  });
  const db = await openDatabase(join(await tempDir('trustix-catchup-'), 'db'));
  const monitor = new CheckpointMonitor({
    db,
    logs: { get: () => undefined },
    followed: (id) => follows.includes(id),
  });
  await monitor.start();
  const gossip = new Gossip({ pubsub: node.services.pubsub, monitor, penalties });
  gossip.start();
  const service = new CatchupService({ registrar: node, checkpoints: (id) => monitor.catchupMessages(id) });
  await service.start();
  const client =
    options.client === false
      ? undefined
      : new CatchupClient(
          {
            node,
            wanted: () => [...follows],
            validate: (bytes, from) => monitor.validate(bytes, from),
            penalise: (peer, points) => penalties.penalise(peer, points),
          },
          options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs },
        );
  client?.start();
  const newest: NewestEvent[] = [];
  const answers: CatchupAnswer[] = [];
  monitor.addEventListener('newest', (e) => newest.push(e.detail));
  client?.addEventListener('answer', (e) => answers.push(e.detail));
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      client?.stop();
      await service.stop();
      gossip.stop();
      await node.stop();
      await db.close();
    })();
    return stopped;
  };
  t.teardown(stop);
  return { node, monitor, gossip, penalties, client, newest, answers, stop };
}

async function builtLog(t: ExecutionContext, n = 40): Promise<LogFixture> {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  await log.append([...syntheticEntries(n, 1)]);
  return log;
}

test('a node that joins after the gossip learns the checkpoint from a peer that is not the builder', async (t) => {
  const log = await builtLog(t);
  const builder = await member(t);
  const relay = await member(t, { follows: [log.key.logId], bootstrap: dialAddress(builder.node) });
  await waitFor(
    'a checkpoint mesh',
    () => relay.node.services.pubsub.getMeshPeers(CHECKPOINT_TOPIC).length > 0,
  );
  await builder.gossip.publishCheckpoint(log.key.vkey, log.store.checkpoint()!.note);
  await waitFor('the checkpoint at the relay', () => relay.newest.length > 0);
  // The builder leaves: nobody will publish this checkpoint again, and the relay does not republish it.
  await builder.stop();
  const late = await member(t, { follows: [log.key.logId], bootstrap: dialAddress(relay.node) });
  await waitFor('the checkpoint at the late node', () => late.newest.length > 0, { timeout: 30_000 });
  t.is(late.newest[0]!.logId, log.key.logId);
  t.is(late.newest[0]!.checkpoint.size, 40);
  t.is(late.newest[0]!.from, relay.node.peerId.toString());
  t.deepEqual(
    late.answers.map((a) => [a.peer, a.accepted, a.blame]),
    [[relay.node.peerId.toString(), 1, undefined]],
  );
});

test('a log followed after connecting: askConnected learns its checkpoint from the peers already connected', async (t) => {
  const log = await builtLog(t);
  const builder = await member(t);
  const relay = await member(t, { follows: [log.key.logId], bootstrap: dialAddress(builder.node) });
  await waitFor(
    'a checkpoint mesh',
    () => relay.node.services.pubsub.getMeshPeers(CHECKPOINT_TOPIC).length > 0,
  );
  await builder.gossip.publishCheckpoint(log.key.vkey, log.store.checkpoint()!.note);
  await waitFor('the checkpoint at the relay', () => relay.newest.length > 0);
  await builder.stop();
  const follows: string[] = [];
  const late = await member(t, { follows, bootstrap: dialAddress(relay.node) });
  await waitFor('a connection to the relay', () => late.node.getConnections().length > 0);
  // Connected and identified while following nothing: nothing asked yet.
  await waitFor('the relay identified', async () =>
    (await late.node.peerStore.get(relay.node.peerId)).protocols.includes(CATCHUP_PROTOCOL),
  );
  follows.push(log.key.logId);
  late.client!.askConnected();
  await waitFor('the checkpoint at the late node', () => late.newest.length > 0);
  t.is(late.newest[0]!.checkpoint.size, 40);
});

test('a checkpoint a connected peer learns after it was asked reaches us on the next tick', async (t) => {
  const log = await builtLog(t);
  const relay = await member(t, { follows: [log.key.logId] });
  const late = await member(t, {
    follows: [log.key.logId],
    bootstrap: dialAddress(relay.node),
    intervalMs: 1_000,
  });
  await waitFor('an answer from the relay', () => late.answers.length > 0);
  t.is(late.answers[0]!.checkpoints, 0, 'asked before the relay knew the checkpoint');
  // The relay learns it outside gossip (as from a sync source's answer): nothing is published to us.
  const message = formatCheckpointMessage(log.key.vkey, log.store.checkpoint()!.note);
  t.is((await relay.monitor.validate(message, 'a sync source')).decision, 'accept');
  await waitFor('the checkpoint at the late node', () => late.newest.length > 0);
  t.is(late.newest[0]!.from, relay.node.peerId.toString());
});

/** A libp2p node that answers every catch-up request with `answer` (raw, length-prefixed). */
async function hostile(t: ExecutionContext, answer: Uint8Array): Promise<TrustixLibp2p> {
  const node = await startTestNode(t);
  await node.handle(
    CATCHUP_PROTOCOL,
    async (stream) => {
      const lp = lpStream(stream, { maxDataLength: 2 * MAX_CATCHUP_RESPONSE_BYTES });
      await lp.read();
      await lp.write(answer);
      await stream.close();
    },
    { runOnLimitedConnection: true },
  );
  return node;
}

async function askedBy(t: ExecutionContext, answer: Uint8Array, log: LogFixture) {
  const bad = await hostile(t, answer);
  const victim = await member(t, { follows: [log.key.logId], bootstrap: dialAddress(bad) });
  await waitFor('an answer from the hostile peer', () => victim.answers.length > 0);
  const peer = bad.peerId.toString();
  // Gossipsub recomputes scores on its heartbeat: wait for the penalty to show there.
  await waitFor('the hostile peer graylisted', () => victim.node.services.pubsub.getScore(peer) < -80);
  return { victim, peer, answer: victim.answers[0]! };
}

test('hostile catch-up answers are refused and cost the peer its gossip score', async (t) => {
  const log = await builtLog(t);
  const message = formatCheckpointMessage(log.key.vkey, log.store.checkpoint()!.note);
  const badSignature = Uint8Array.from(message);
  badSignature[badSignature.length - 5]! ^= 1; // inside the base64 signature
  const other = await builtLog(t, 3);
  const cases: [string, Uint8Array][] = [
    ['garbage', Uint8Array.of(CATCHUP_STATUS.ok, 0, 1, 0, 4, 1, 2, 3, 4)],
    ['a bad signature', encodeCatchupResponse({ status: CATCHUP_STATUS.ok, messages: [badSignature] })],
    [
      'a log not asked for',
      encodeCatchupResponse({
        status: CATCHUP_STATUS.ok,
        messages: [formatCheckpointMessage(other.key.vkey, other.store.checkpoint()!.note)],
      }),
    ],
    ['an oversized answer', new Uint8Array(MAX_CATCHUP_RESPONSE_BYTES + 1)],
  ];
  for (const [what, bytes] of cases) {
    const { victim, peer, answer } = await askedBy(t, bytes, log);
    t.is(answer.peer, peer, what);
    t.truthy(answer.blame, what);
    t.is(answer.accepted, 0, what);
    t.true(victim.penalties.score(peer) < -99, what);
    t.is(await victim.monitor.latest(log.key.logId), undefined, `${what}: nothing kept`);
    t.is(await victim.monitor.latest(other.key.logId), undefined, `${what}: nothing kept`);
  }
});

test('catch-up requests and answers round-trip; malformed ones are refused', (t) => {
  const ids = ['11'.repeat(32), '22'.repeat(32)];
  t.deepEqual(parseCatchupRequest(encodeCatchupRequest(ids)), ids);
  t.throws(() => encodeCatchupRequest([ids[0]!, ids[0]!]), { instanceOf: MalformedError });
  t.throws(() => parseCatchupRequest(Uint8Array.of(1, 0, 0)), { instanceOf: MalformedError });
  t.throws(() => parseCatchupRequest(encodeCatchupRequest(ids).subarray(1)), { instanceOf: MalformedError });
  t.deepEqual(parseCatchupResponse(Uint8Array.of(CATCHUP_STATUS.busy), new Set(ids)), { status: 3 });
  t.throws(() => parseCatchupResponse(Uint8Array.of(CATCHUP_STATUS.busy, 0), new Set(ids)), {
    instanceOf: MalformedError,
  });
  t.throws(() => parseCatchupResponse(Uint8Array.of(0, 0, 0, 9), new Set(ids)), {
    instanceOf: MalformedError,
  });
});
