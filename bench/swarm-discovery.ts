/**
 * Provider discovery in the swarm benchmark (bench/swarm-worker.ts): how long a fresh libp2p node (new
 * identity, empty routing table) in a worker process takes to find a log's providers in the DHT. Apart
 * from the members because it is a node of its own, started and stopped for the one lookup.
 */
import { createLibp2pNode, LogProviders } from '../node/index.ts';
import { now, sleep } from './swarm-clock.ts';
import { hosting } from './swarm-members.ts';

/**
 * A fresh libp2p node (new identity, empty routing table) joins through `bootstrap` and looks up the
 * providers of `logId` in the DHT: the time from start until the first provider is known.
 */
export async function freshProvider(args: { bootstrap: string[]; logId: string; timeoutMs: number }) {
  const started = now();
  const node = await createLibp2pNode({
    listen: [`/ip4/${hosting.host}/tcp/0`],
    allowList: hosting.host === '127.0.0.1' ? ['/ip4/127.0.0.0/ipcidr/8'] : ['/ip4/10.0.0.0/ipcidr/8'],
    bootstrap: args.bootstrap,
  });
  const providers = new LogProviders(
    { contentRouting: node.contentRouting, dhts: [], peerId: node.peerId },
    { maxProviders: 1, findTimeoutMs: 5_000 },
  );
  try {
    const deadline = Date.now() + args.timeoutMs;
    let tries = 0;
    for (;;) {
      tries++;
      const found = await providers.findProviders(args.logId).catch(() => []);
      if (found.length > 0) return { ms: now() - started, tries };
      if (Date.now() > deadline) return { ms: undefined, tries };
      await sleep(100);
    }
  } finally {
    await node.stop();
  }
}
