/**
 * Child process of the network benchmark: a real node (TrustixNode) that follows the logs named on the
 * command line, with the given peer as its bootstrap (and, through the DHT, provider); prints its RSS
 * as JSON once every log is synced, its reproducibility statistics are indexed and it has been quiet
 * long enough to give back what the syncs left (node/memory-releaser.ts): the node at rest. With the
 * RSS when the syncs ended and the highest seen on the way. Run compiled (scripts/build.mjs), as
 * cli/bin/trustix.js runs a node: it imports nothing the build does not compile.
 */
import '../node/client.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initDataDir } from '../node/client.ts';
import type { MemoryRelease } from '../node/index.ts';
import { TrustixNode } from '../node/index.ts';

const [bootstrap, ...vkeys] = process.argv.slice(2);
const dataDir = await mkdtemp(join(tmpdir(), 'trustix-bench-follower-'));
await initDataDir(dataDir, { name: 'bench-follower-1' });
const node = new TrustixNode({
  dataDir,
  http: false,
  p2p: {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    allowList: ['/ip4/127.0.0.0/ipcidr/8'],
    whitelistIps: ['127.0.0.1'],
    bootstrap: [bootstrap!],
  },
  follower: { retryDelayMs: 500, maxRetryDelayMs: 2000 },
});
await node.start();
const started = performance.now();
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 200);
for (const [i, vkey] of vkeys.entries()) await node.followed.follow(vkey, { name: `log-${i}` });
let entries = 0;
for (;;) {
  const statuses = node.follower!.statuses();
  if (
    statuses.length === vkeys.length &&
    statuses.every((s) => s.verifiedSize > 0 && s.verifiedSize === s.size)
  ) {
    entries = statuses.reduce((n, s) => n + s.verifiedSize, 0);
    break;
  }
  // A follow asks sources at once; nudge again while the DHT is still learning who provides what.
  for (const s of statuses)
    if (s.verifiedSize === 0 && s.state !== 'syncing') await node.follower!.refresh(s.logId);
  await new Promise((r) => setTimeout(r, 500));
}
const seconds = (performance.now() - started) / 1000;
const syncedRssMb = Math.round(process.memoryUsage().rss / 1e6);
await new Promise((r) => setTimeout(r, 100));
await node.stats.idle();
const released = await new Promise<MemoryRelease | undefined>((resolve) => {
  const timeout = setTimeout(() => resolve(undefined), 60_000);
  node.memory?.addEventListener(
    'released',
    (e) => {
      clearTimeout(timeout);
      resolve((e as CustomEvent<MemoryRelease>).detail);
    },
    { once: true },
  );
});
const rss = process.memoryUsage().rss;
clearInterval(sampler);
const rssMb = Math.round(rss / 1e6);
const peakRssMb = Math.round(Math.max(peak, rss) / 1e6);
await node.stop();
await rm(dataDir, { recursive: true, force: true });
process.stdout.write(
  JSON.stringify({
    rssMb,
    syncedRssMb,
    peakRssMb,
    releasedMb: released === undefined ? 0 : Math.round((released.before - released.after) / 1e6),
    entries,
    seconds: Number(seconds.toFixed(1)),
  }),
);
