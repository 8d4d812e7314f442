/**
 * What a sync holds at once is bounded by its window, whatever the log's size (docs/ARCHITECTURE.md,
 * "Memory"): counted by the sync itself (SyncResult.memory), not read from the resident set, which a
 * shared machine makes too noisy to test.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { openDatabase } from '../node/store/database.ts';
import { LogStore } from '../node/store/log-store.ts';
import { LogSync, type SyncResult } from '../node/sync/log-sync.ts';
import type { VerifiedBundle } from '../node/sync/sync-stage.ts';
import type { TileSource } from '../node/sync/tile-source.ts';
import { type LogFixture, openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';
import { startTileServer } from './helpers/tile-servers.ts';

const WINDOW = 8;
const SMALL = 2000;
const LARGE = 12_000; // 47 bundles: far more than the window
const PARENT = 4 * 1024 * 1024;

async function builder(t: ExecutionContext, n: number): Promise<LogFixture> {
  const log = await openLogFixture();
  t.teardown(() => log.destroy());
  const entries = [...syntheticEntries(n, 11)];
  for (let i = 0; i < n; i += 2000) await log.append(entries.slice(i, i + 2000));
  return log;
}

/**
 * Syncs `log` into a fresh store through `source(http)`, with a statistics hook that lets the fetches run
 * ahead of the writes (as a busy indexer does). Returns the result and the largest bundle's cost.
 */
async function syncOf(
  t: ExecutionContext,
  log: LogFixture,
  source: (http: TileSource) => TileSource = (s) => s,
): Promise<{ result: SyncResult; largest: number }> {
  const server = await startTileServer(log.store);
  t.teardown(() => server.stop());
  const dir = await tempDir('trustix-sync-memory-');
  const db = await openDatabase(join(dir, 'db'));
  t.teardown(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  const store = await LogStore.open(db, log.key);
  let largest = 0;
  const stored = async (_logId: string, bundles: readonly VerifiedBundle[]) => {
    for (const b of bundles) largest = Math.max(largest, b.bundle.byteLength + 8192 + 1024);
    await new Promise((r) => setImmediate(r));
  };
  const sync = new LogSync(
    { db, store, sources: [source(server.source)], stored },
    { windowBundles: WINDOW, stepBundles: 4, maxConcurrency: 8 },
  );
  const result = await sync.run(log.store.checkpoint()!.note);
  t.is(result.toSize, log.store.size);
  return { result, largest };
}

test('a sync holds at most its window of verified bundles, for a log of 2,000 or of 12,000 entries', async (t) => {
  const peaks: number[] = [];
  for (const n of [SMALL, LARGE]) {
    const { result, largest } = await syncOf(t, await builder(t, n));
    const { peakBundles, peakBytes, treeBytes } = result.memory;
    t.true(peakBundles > 0);
    t.true(peakBundles <= WINDOW, `${n} entries: ${peakBundles} bundles held at once`);
    // Each bundle's own bytes, its level-0 tile (8 KiB) and its offsets: nothing grows with the log.
    t.true(peakBytes <= WINDOW * largest, `${n} entries: ${peakBytes} bytes held, bound ${WINDOW * largest}`);
    // Below 65,536 new leaves the upper levels are one partial tile of level 1 (plus the edge).
    t.true(treeBytes <= 3 * 8192, `${n} entries: ${treeBytes} bytes of upper tiles`);
    peaks.push(peakBytes);
  }
  t.log(`peak bytes held: ${peaks.join(', ')}`);
});

test('a bundle that arrives as a view into a larger buffer does not keep that buffer alive', async (t) => {
  const log = await builder(t, SMALL);
  // A source whose bodies are views into 4 MiB buffers, as a reader of several responses at once gives.
  const pinning = (inner: TileSource): TileSource => ({
    id: inner.id,
    checkpoint: (logId, options) => inner.checkpoint(logId, options),
    async tiles(logId, tiles, options) {
      const bodies = await inner.tiles(logId, tiles, options);
      return bodies.map((body) => {
        if (body === undefined) return undefined;
        const parent = new Uint8Array(PARENT);
        parent.set(body, 100);
        return parent.subarray(100, 100 + body.byteLength);
      });
    },
  });
  const { result, largest } = await syncOf(t, log, pinning);
  t.true(result.memory.peakBundles <= WINDOW);
  t.true(
    result.memory.peakBytes <= WINDOW * largest,
    `${result.memory.peakBytes} bytes held, bound ${WINDOW * largest}`,
  );
  // The count is of the buffers kept alive (retainedBytes), so it would see a pinned parent.
  t.log(`largest bundle cost ${largest} bytes`);
  t.true(WINDOW * largest < PARENT);
});
