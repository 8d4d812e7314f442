/**
 * Real libp2p networks on 127.0.0.1 for tests: one bootstrap node and N nodes that know only its
 * address, with the loopback settings libp2p needs (allow-listed 127/8, gossip IP whitelist,
 * fast re-dial). Every node started here is stopped by the test's teardown.
 */
import '../../node/runtime/promise-with-resolvers.ts';
import type { ExecutionContext } from 'ava';
import { createLibp2pNode } from '../../node/network/libp2p-node.ts';
import type { Libp2pNodeInit } from '../../node/network/libp2p-node-init.ts';
import type { TrustixLibp2p } from '../../node/network/libp2p-services.ts';

/** Settings every loopback test node needs. */
export const LOOPBACK_INIT: Libp2pNodeInit = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  allowList: ['/ip4/127.0.0.0/ipcidr/8'],
  whitelistIps: ['127.0.0.1'],
  redial: { interval: 100, maxInterval: 1000 },
};

export interface TestNetwork {
  readonly bootstrap: TrustixLibp2p;
  readonly nodes: readonly TrustixLibp2p[];
  /** The bootstrap node's dialable address, with `/p2p/<PeerId>`. */
  readonly bootstrapAddr: string;
}

/** Starts a node with LOOPBACK_INIT plus `init`, stopped at teardown. */
export async function startTestNode(t: ExecutionContext, init: Libp2pNodeInit = {}): Promise<TrustixLibp2p> {
  const node = await createLibp2pNode({ ...LOOPBACK_INIT, ...init });
  t.teardown(() => node.stop());
  return node;
}

/** A bootstrap node and `n` nodes whose only configured peer is the bootstrap node. Does not wait. */
export async function startTestNetwork(
  t: ExecutionContext,
  n: number,
  init: Libp2pNodeInit = {},
): Promise<TestNetwork> {
  const bootstrap = await startTestNode(t, init);
  const bootstrapAddr = dialAddress(bootstrap);
  const nodes = await Promise.all(
    Array.from({ length: n }, () => startTestNode(t, { ...init, bootstrap: [bootstrapAddr] })),
  );
  return { bootstrap, nodes, bootstrapAddr };
}

/** The node's loopback TCP address, ending in `/p2p/<PeerId>`. */
export function dialAddress(node: TrustixLibp2p): string {
  const addr = node.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'));
  if (addr === undefined) throw new Error(`node ${node.peerId} has no loopback TCP address`);
  return addr.toString();
}

/**
 * Polls `condition` every `interval` ms until it holds; throws after `timeout` ms naming `what`.
 * For state libp2p exposes no event for (connection counts, mesh membership, routing tables).
 */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  { timeout = 30_000, interval = 20 }: { timeout?: number; interval?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Waits until every node has at least `min` open connections. */
export async function waitForConnections(
  nodes: readonly TrustixLibp2p[],
  min: number,
  timeout = 30_000,
): Promise<void> {
  await waitFor(
    `${nodes.length} nodes with >= ${min} connections each`,
    () => nodes.every((n) => n.getConnections().length >= min),
    { timeout },
  );
}

/** Subscribes every node to `topic` and waits until each has a gossip mesh peer on it. */
export async function joinTopic(
  nodes: readonly TrustixLibp2p[],
  topic: string,
  timeout = 30_000,
): Promise<void> {
  for (const n of nodes) n.services.pubsub.subscribe(topic);
  await waitFor(
    `a ${topic} mesh on ${nodes.length} nodes`,
    () => nodes.every((n) => n.services.pubsub.getMeshPeers(topic).length > 0),
    { timeout },
  );
}
