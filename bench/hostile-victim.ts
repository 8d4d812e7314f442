/**
 * The victim node of the hostile benchmark (bench/hostile.ts), in a process of its own so that its RSS
 * is its own: a real node (TrustixNode: libp2p on 127.0.0.1, gossipsub, the checkpoint monitor, LevelDB,
 * the follower, the vote and the substituter on HTTP) following the logs it is given, each with a static
 * HTTP mirror (the benchmark's tile servers). Checkpoints reach it only by gossip from the benchmark's
 * peers. Driven over IPC, one request at a time:
 *   { start: { logs: [{ vkey, name, logId, mirror }], vote: [spec...] } }
 *     -> { started: { http: { host, port }, addr } }   (addr: its dialable multiaddr with /p2p/<id>)
 *   { status: true } -> { status: [{ logId, state, verifiedSize, size, error }] }
 *   { gossip: { peers: [peerId...] } } -> { gossip: { results: { accept, ignore, reject }, scores, logsTracked } }
 *     (what its checkpoint-topic validator answered, counted since start; its gossipsub scores of `peers`)
 *   { stop: true } -> exits once stopped
 * Run compiled (scripts/build.mjs), as cli/bin/trustix.js runs a node.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initDataDir } from '../node/client.ts';
import { parseDeciderSpec, TrustixNode } from '../node/index.ts';
import { CHECKPOINT_TOPIC } from '../protocol/index.ts';

interface StartMessage {
  logs: { vkey: string; name: string; logId: string; mirror: string }[];
  vote: string[];
}

let node: TrustixNode | undefined;
let dataDir: string | undefined;
const results: Record<string, number> = { accept: 0, ignore: 0, reject: 0 };

const send = (message: unknown) => process.send!(message);

async function start(m: StartMessage): Promise<void> {
  dataDir = await mkdtemp(join(tmpdir(), 'trustix-bench-victim-'));
  await initDataDir(dataDir, { name: 'bench-victim-1' });
  node = new TrustixNode({
    dataDir,
    http: { host: '127.0.0.1', port: 0 },
    vote: m.vote.map((s) => parseDeciderSpec(s)),
    p2p: {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      allowList: ['/ip4/127.0.0.0/ipcidr/8'],
      // The attackers share 127.0.0.1: no IP-colocation penalty, so that only their behaviour scores.
      whitelistIps: ['127.0.0.1'],
      localOnly: true,
    },
    sources: { mirrors: Object.fromEntries(m.logs.map((l) => [l.logId, [l.mirror]])) },
    follower: { retryDelayMs: 500, maxRetryDelayMs: 2000 },
  });
  await node.start();
  // Counts what the real validator (node/network/gossip.ts) answers gossipsub, without changing it.
  const pubsub = node.libp2p!.services.pubsub;
  const validator = pubsub.topicValidators.get(CHECKPOINT_TOPIC)!;
  pubsub.topicValidators.set(CHECKPOINT_TOPIC, async (peer, message) => {
    const result = await validator(peer, message);
    results[result] = (results[result] ?? 0) + 1;
    return result;
  });
  for (const l of m.logs) await node.followed.follow(l.vkey, { name: l.name });
  const addr = node.libp2p!.getMultiaddrs()[0]!.toString();
  send({ started: { http: node.httpAddress(), addr } });
}

function status() {
  return node!.follower!.statuses().map((s) => ({
    logId: s.logId,
    state: s.state,
    verifiedSize: s.verifiedSize,
    size: s.size,
    error: s.error?.code ?? null,
  }));
}

function gossip(peers: string[]) {
  const pubsub = node!.libp2p!.services.pubsub;
  return {
    results: { ...results },
    scores: peers.map((p) => Number(pubsub.getScore(p).toFixed(1))),
    logsTracked: node!.monitor.size,
  };
}

process.on('message', (m: Record<string, unknown>) => {
  void (async () => {
    try {
      if (m['start'] !== undefined) await start(m['start'] as StartMessage);
      else if (m['status'] !== undefined) send({ status: status() });
      else if (m['gossip'] !== undefined)
        send({ gossip: gossip((m['gossip'] as { peers: string[] }).peers) });
      else if (m['stop'] !== undefined) {
        await node?.stop();
        if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
        process.exit(0);
      }
    } catch (e) {
      send({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  })();
});
