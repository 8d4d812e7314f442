/**
 * Whole Trustix nodes for tests: each started on the loopback network in a fresh data directory, with
 * settings that let a test network converge in seconds (FAST).
 */
import { rm } from 'node:fs/promises';
import { TrustixNode, type TrustixNodeInit } from '../../node/assembly/trustix-node.ts';
import { initDataDir } from '../../node/store/data-dir.ts';
import { tempDir } from './log-fixture.ts';
import { LOOPBACK_INIT } from './p2p.ts';

/** Short batches, republish and retries; no HTTP server unless a test asks for one. */
export const FAST: Partial<TrustixNodeInit> = {
  http: false,
  sequencer: { intervalMs: 20 },
  gossip: { republishIntervalMs: 1000 },
  // Short retries: before the DHT knows a provider, a sync finds no source and must try again soon. A
  // short sync start delay: the default 3 s spreads a swarm's followers (docs/SCALE.md), here a few.
  follower: { retryDelayMs: 200, maxRetryDelayMs: 1000, syncJitterMs: 100 },
};

/** A node's settings on top of FAST; `bootstrap` joins LOOPBACK_INIT's libp2p settings. */
export type TestNodeInit = Partial<TrustixNodeInit> & { bootstrap?: string[] };

/** Takes a cleanup: `t.teardown`, or a list run after the tests; either runs the last one added first. */
export type OnStop = (cleanup: () => Promise<unknown>) => void;

/**
 * A started node: its log key named `name` (none for a bootstrap node), FAST plus `init`, on the
 * loopback network. `onStop` gets the removal of its data directory, then the node's stop.
 */
export async function startTrustixNode(
  onStop: OnStop,
  name: string,
  init: TestNodeInit = {},
): Promise<{ node: TrustixNode; dataDir: string }> {
  const dataDir = await tempDir(`trustix-${name}-`);
  onStop(() => rm(dataDir, { recursive: true, force: true }));
  if (init.role !== 'bootstrap') await initDataDir(dataDir, { name });
  const { bootstrap, ...rest } = init;
  const node = new TrustixNode({
    dataDir,
    ...FAST,
    ...rest,
    p2p: { ...LOOPBACK_INIT, ...(bootstrap ? { bootstrap } : {}) },
  });
  await node.start();
  onStop(() => node.stop());
  return { node, dataDir };
}
