/**
 * The Trustix nodes `trustix demo` starts on 127.0.0.1: their loopback settings, their start (each with
 * its own data directory), what the demo calls each of them, and their stop. Its own module because these
 * are the demo's processes, whatever story it tells with them; everything started here is stopped here.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TrustixNode, type TrustixNodeInit } from '../assembly/trustix-node.ts';
import { DemoFailedError } from '../errors.ts';
import { initDataDir } from '../store/data-dir.ts';

/** What the demo calls the user's node, and the name of its data directory. */
export const USER_NAME = 'my-node';

/** The settings libp2p needs on loopback: allow-listed 127/8, gossip IP whitelist, fast re-dial. */
export const LOOPBACK_P2P = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  allowList: ['/ip4/127.0.0.0/ipcidr/8'],
  whitelistIps: ['127.0.0.1'],
  redial: { interval: 100, maxInterval: 1000 },
} as const;

/** A demo wants to see things happen within seconds, not minutes. */
export const FAST: Partial<TrustixNodeInit> = {
  sequencer: { intervalMs: 20 },
  gossip: { republishIntervalMs: 1000 },
  follower: { retryDelayMs: 200, maxRetryDelayMs: 1000 },
};

/** The nodes started so far, in start order, and what the demo calls each of them. */
export class DemoNodes {
  private readonly dir: string;
  private readonly signal: AbortSignal | undefined;
  private readonly say: (tag: string, text: string) => void;
  /** Started nodes, in start order. */
  private readonly nodes: { name: string; node: TrustixNode }[] = [];
  /** PeerId -> what the demo calls the node. */
  private readonly peerNames = new Map<string, string>();

  constructor(dir: string, signal: AbortSignal | undefined, say: (tag: string, text: string) => void) {
    this.dir = dir;
    this.signal = signal;
    this.say = say;
  }

  peerName(peerId: string): string {
    return this.peerNames.get(peerId) ?? `peer ...${peerId.slice(-6)}`;
  }

  async start(name: string, init: Omit<TrustixNodeInit, 'dataDir'>): Promise<TrustixNode> {
    this.signal?.throwIfAborted();
    const dataDir = join(this.dir, name);
    if (init.role !== 'bootstrap') await initDataDir(dataDir, { name });
    const node = new TrustixNode({ dataDir, ...init });
    await node.start();
    this.nodes.push({ name, node });
    const peer = node.libp2p?.peerId.toString();
    if (peer !== undefined)
      this.peerNames.set(
        peer,
        name === 'bootstrap' ? 'the bootstrap node' : name === USER_NAME ? 'your node' : name,
      );
    return node;
  }

  /** Stops every node, newest first. Never throws. */
  async stop(): Promise<void> {
    const nodes = this.nodes.splice(0).reverse();
    if (nodes.length > 0) this.say('demo', `stopping ${nodes.length} nodes...`);
    for (const { name, node } of nodes) {
      try {
        await node.stop();
      } catch (err) {
        this.say('demo', `stopping ${name} failed: ${(err as Error).message}`);
      }
    }
  }
}

/** Fails early, before minutes of setup, when the HTTP port asked for is taken. */
export async function checkPortFree(port: number): Promise<void> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DemoFailedError(
      code === 'EADDRINUSE'
        ? `port ${port} on 127.0.0.1 is in use (a Trustix node?): choose another, or 0 for any free port`
        : `cannot listen on 127.0.0.1:${port}: ${(err as Error).message}`,
    );
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** The node's dialable loopback address (with `/p2p/<PeerId>`). */
export function loopbackAddress(node: TrustixNode): string {
  const addr = node.libp2p?.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'));
  if (addr === undefined) throw new DemoFailedError('the bootstrap node has no loopback TCP address');
  return addr.toString();
}
