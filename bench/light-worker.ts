/**
 * The light node of the light benchmark (bench/light.ts), in a process of its own so that its RSS and its
 * event loop are its own. Driven over IPC by the benchmark (bench/light-worker-process.ts):
 *   { start: { dataDir, bootstrap, logs: [vkey...], upstream, entriesPerLog } } -> { started: { http } }
 *     (once all four light logs verified a checkpoint of entriesPerLog)
 *   { decide: [hashPart...] } -> { decided: { ms: [...], unanswered, exchanges } }  (one at a time)
 *   { usage: true } -> { usage: { rss, heapUsed, cacheBytes, lookupCacheBytes } }
 *   { get: { url, n } } -> { got: { ms: [...] } }  (n plain HTTP GETs of url, one at a time: the baseline)
 *   { stop: true } -> exits once stopped
 */
import { parseDeciderSpec, TrustixNode } from '../node/index.ts';

interface StartMessage {
  dataDir: string;
  bootstrap: string[];
  logs: { vkey: string; name: string }[];
  upstream: string;
  entriesPerLog: number;
}

let node: TrustixNode | undefined;

function send(message: unknown): void {
  process.send!(message);
}

async function start(m: StartMessage): Promise<void> {
  node = new TrustixNode({
    dataDir: m.dataDir,
    http: { host: '127.0.0.1', port: 0 },
    memory: false,
    vote: [parseDeciderSpec('threshold 3/4')],
    upstreams: [m.upstream],
    p2p: {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      allowList: ['/ip4/127.0.0.0/ipcidr/8'],
      whitelistIps: ['127.0.0.1'],
      redial: { interval: 100, maxInterval: 1000 },
      localOnly: true,
      bootstrap: m.bootstrap,
    },
  });
  await node.start();
  for (const l of m.logs) await node.followed.follow(l.vkey, { light: true, name: l.name });
  for (const l of m.logs) {
    const id = node.followed.get(l.vkey)!.logId;
    await node.light!.whenVerified(id, m.entriesPerLog);
  }
  send({ started: { http: node.httpAddress() } });
}

async function decide(hashParts: string[]): Promise<void> {
  const n = node!;
  const ms: number[] = [];
  let unanswered = 0;
  const before = n.light!.lookupExchanges();
  for (const h of hashParts) {
    const t = process.hrtime.bigint();
    const d = await n.decisions.decide(h);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (d.unanswered.length > 0) unanswered++;
  }
  send({ decided: { ms, unanswered, exchanges: n.light!.lookupExchanges() - before } });
}

process.on('message', (message: Record<string, unknown>) => {
  const run = async () => {
    if (message['start'] !== undefined) await start(message['start'] as StartMessage);
    else if (message['decide'] !== undefined) await decide(message['decide'] as string[]);
    else if (message['get'] !== undefined) {
      const { url, n } = message['get'] as { url: string; n: number };
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = process.hrtime.bigint();
        await (await fetch(url)).arrayBuffer();
        ms.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      send({ got: { ms } });
    } else if (message['usage'] !== undefined) {
      const m = process.memoryUsage();
      send({
        usage: {
          rss: m.rss,
          heapUsed: m.heapUsed,
          decisionCacheBytes: node!.decisions.cacheSize().bytes,
        },
      });
    } else if (message['stop'] !== undefined) {
      await node?.stop();
      process.exit(0);
    }
  };
  run().catch((err: unknown) => {
    send({ error: String((err as Error)?.stack ?? err) });
  });
});
