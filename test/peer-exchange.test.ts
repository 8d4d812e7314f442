/**
 * Peer exchange in the tile exchange (docs/PROTOCOL.md, "Tile exchange": fan-out and `<logID>/holders`):
 * real libp2p nodes on 127.0.0.1, real LevelDB stores and syncs. A builder with a fan-out of one serves a
 * first follower, whose sync is held mid-way (it has verified four bundles and waits for the rest); a
 * second follower is then told busy for bundles, asks the builder whom it served, gets the first
 * follower's PeerId, and takes every bundle from it.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import test, { type ExecutionContext } from 'ava';
import { Libp2pTileSource } from '../node/network/libp2p-tile-source.ts';
import { TileExchange } from '../node/network/tile-exchange.ts';
import type { TileExchangeInit } from '../node/network/tile-exchange-init.ts';
import { openDatabase } from '../node/store/database.ts';
import type { LogDirectory, LogReader } from '../node/store/log-reader.ts';
import { LogStore } from '../node/store/log-store.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import { LogSync } from '../node/sync/log-sync.ts';
import type { SourceFailedEvent, TileSource } from '../node/sync/tile-source.ts';
import { type LogFixture, openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { dialAddress, startTestNode, waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

const SIZE = 3000; // 11 full bundles and a partial one of 184
/** The first follower's sync verifies the bundles below this, then waits. */
const HELD_FROM = 4;
let fixture: LogFixture;

test.before(async () => {
  fixture = await openLogFixture();
  const entries = [...syntheticEntries(SIZE, 43)];
  for (let i = 0; i < SIZE; i += 1000) await fixture.append(entries.slice(i, i + 1000));
});

test.after.always(async () => {
  await fixture?.destroy();
});

/** `reader`'s log, as its builder (`own`: it seeds it) or a follower holds it. */
const directory = (reader: LogReader, own: boolean): LogDirectory => ({
  get: (id) => (id === reader.logId ? reader : undefined),
  list: () => [reader],
  own: (id) => own && id === reader.logId,
});

type Served = Awaited<ReturnType<typeof serving>>;

/** A libp2p node serving `reader`'s log over the tile exchange (it may also sync: one node, as a daemon). */
async function serving(t: ExecutionContext, reader: LogReader, own: boolean, init?: TileExchangeInit) {
  const node = await startTestNode(t);
  const exchange = new TileExchange({ registrar: node, logs: directory(reader, own) }, init);
  await exchange.start();
  t.teardown(() => exchange.stop());
  return { node, addr: multiaddr(dialAddress(node)) };
}

async function followerStore(t: ExecutionContext) {
  const dir = await tempDir('trustix-pex-');
  const db = await openDatabase(join(dir, 'db'));
  t.teardown(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { db, store: await LogStore.open(db, fixture.key) };
}

/** `source`, recording the bundles it served, its busy answers and the holders it named. */
function recorded(source: Libp2pTileSource) {
  const record = { bundles: [] as number[], busy: 0, holders: [] as (string[] | undefined)[] };
  const wrapped: TileSource = {
    id: source.id,
    checkpoint: (logId, options) => source.checkpoint(logId, options),
    progress: (logId, options) => source.progress(logId, options),
    holders: async (logId, options) => {
      const peers = await source.holders(logId, options);
      record.holders.push(peers);
      return peers;
    },
    tiles: async (logId, tiles, options) => {
      const bodies = await source.tiles(logId, tiles, options).catch((err: unknown) => {
        if ((err as { reason?: string }).reason === 'busy') record.busy++;
        throw err;
      });
      tiles.forEach((tile, i) => {
        if (tile.kind === 'entries' && bodies[i] !== undefined) record.bundles.push(tile.index);
      });
      return bodies;
    },
  };
  return { record, source: wrapped };
}

/** A second follower, which knows only the builder: its store, and the recorded sources of both peers. */
async function secondFollower(t: ExecutionContext, builder: Served, first: Served) {
  const store = await followerStore(t);
  const dialer = await startTestNode(t);
  return {
    ...store,
    toBuilder: recorded(new Libp2pTileSource({ dialer }, { peer: builder.addr })),
    toFirst: recorded(new Libp2pTileSource({ dialer }, { peer: first.addr })),
    firstId: first.node.peerId.toString(),
  };
}

test('a builder past its fan-out names the peer it served, and a second follower takes every bundle from it', async (t) => {
  // Patience of a minute: the builder never serves the second follower's full bundles here.
  const builder = await serving(t, fixture.store, true, { uploads: { fanout: 1, patienceMs: 60_000 } });
  const first = await followerStore(t);
  const firstNode = await serving(t, first.store, false, { uploads: { fanout: 1, patienceMs: 60_000 } });
  const release = Promise.withResolvers<void>();
  t.teardown(() => release.resolve());
  // The first follower syncs from the builder through its own node (the one that serves), held after
  // four bundles.
  const fromBuilder = new Libp2pTileSource({ dialer: firstNode.node }, { peer: builder.addr });
  const held: TileSource = {
    id: fromBuilder.id,
    checkpoint: (logId, options) => fromBuilder.checkpoint(logId, options),
    tiles: async (logId, tiles, options) => {
      if (tiles.some((tile) => tile.kind === 'entries' && tile.index >= HELD_FROM)) await release.promise;
      return fromBuilder.tiles(logId, tiles, options);
    },
  };
  const firstSync = new LogSync(
    { db: first.db, store: first.store, sources: [held] },
    { stepBundles: 3, requestTimeoutMs: 60_000 },
  );
  const firstDone = firstSync.run(fixture.store.checkpoint()!);
  firstDone.catch(() => {});
  await waitFor(
    'the first follower verified four bundles',
    () => (first.store.inProgress()?.verified ?? 0) >= 1024,
  );

  const second = await secondFollower(t, builder, firstNode);
  const { toBuilder, toFirst } = second;
  const referred: string[][] = [];
  const failed: SourceFailedEvent[] = [];
  const sync = new LogSync({
    db: second.db,
    store: second.store,
    sources: [toBuilder.source],
    // The node maps a PeerId to its source through its peer store; here the test knows the address.
    refer: (peers) => {
      referred.push([...peers]);
      return peers.includes(second.firstId) ? [toFirst.source] : [];
    },
  });
  sync.addEventListener('source-failed', (e) => failed.push(e.detail));
  const synced = sync.run(fixture.store.checkpoint()!);
  await waitFor('the first follower served the second', () => toFirst.record.bundles.length >= HELD_FROM);
  release.resolve();
  await synced;
  await firstDone;

  t.is((await verifyLog(second.store)).entries, SIZE);
  t.true(toBuilder.record.busy > 0, 'the builder said busy for bundles');
  t.deepEqual(
    toBuilder.record.holders,
    [[firstNode.node.peerId.toString()]],
    'asked once; it named the first follower',
  );
  t.deepEqual(referred, [[firstNode.node.peerId.toString()]]);
  t.deepEqual(
    toBuilder.record.bundles.filter((i) => i < 11),
    [],
    'no full bundle from the builder (the partial tip is never refused for the fan-out)',
  );
  t.deepEqual(
    [...new Set(toFirst.record.bundles)].filter((i) => i < 11).sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  t.deepEqual(failed, [], 'busy is no fault');
});

test('holders: "not found" while nobody was served, and never the asker itself', async (t) => {
  const builder = await serving(t, fixture.store, true, { uploads: { fanout: 1 } });
  const a = new Libp2pTileSource({ dialer: await startTestNode(t) }, { peer: builder.addr });
  const bDialer = await startTestNode(t);
  const b = new Libp2pTileSource({ dialer: bDialer }, { peer: builder.addr });
  const { logId } = fixture.store;
  t.is(await a.holders(logId), undefined, 'nobody served yet');
  await a.tiles(logId, [{ kind: 'entries', index: 0, width: 256 }]);
  t.is(await a.holders(logId), undefined, 'the only peer served is the asker');
  const [body] = await b.tiles(logId, [{ kind: 'entries', index: 0, width: 256 }]).then(
    () => [undefined],
    (err: Error) => [err.message],
  );
  t.regex(body ?? '', /busy/, 'the second peer is past the fan-out of one');
  const holders = await b.holders(logId);
  t.is(holders?.length, 1);
  t.not(holders![0], bDialer.peerId.toString());
  t.is(await b.holders('f'.repeat(64)), undefined, 'a log the node does not serve has no holders');
});

test('a follower does not fan out: the log it follows goes to every peer its slots allow', async (t) => {
  const follower = await serving(t, fixture.store, false, { uploads: { fanout: 1, patienceMs: 60_000 } });
  const { logId } = fixture.store;
  for (let i = 0; i < 3; i++) {
    const peer = new Libp2pTileSource({ dialer: await startTestNode(t) }, { peer: follower.addr });
    const [bundle] = await peer.tiles(logId, [{ kind: 'entries', index: 0, width: 256 }]);
    t.truthy(bundle, `peer ${i} served`);
    t.is(await peer.holders(logId), undefined, 'and named nobody: it does not seed');
  }
});

test('a builder that named its holders is asked only for what they cannot serve, even once it would serve', async (t) => {
  // Patience of 1 ms: the builder would serve the second follower at its next ask. The first follower
  // holds the whole log, so the second asks the builder for nothing more once it was sent there.
  const builder = await serving(t, fixture.store, true, { uploads: { fanout: 1, patienceMs: 1 } });
  const first = await followerStore(t);
  const firstNode = await serving(t, first.store, false);
  const fromBuilder = new Libp2pTileSource({ dialer: firstNode.node }, { peer: builder.addr });
  await new LogSync({ db: first.db, store: first.store, sources: [fromBuilder] }).run(
    fixture.store.checkpoint()!,
  );

  const second = await secondFollower(t, builder, firstNode);
  const { toBuilder, toFirst } = second;
  // Its answers take 100 ms: the sync outlasts the builder's busy pause (0.25 s), whose end makes it the
  // least recently used source, asked next were it not a referrer.
  const slowFirst: TileSource = {
    ...toFirst.source,
    tiles: async (logId, tiles, options) => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return toFirst.source.tiles(logId, tiles, options);
    },
  };
  const sync = new LogSync(
    {
      db: second.db,
      store: second.store,
      sources: [toBuilder.source],
      refer: (peers) => (peers.includes(second.firstId) ? [slowFirst] : []),
    },
    // One request at a time: the first bundle is the only one the builder is asked for before it refers.
    { perSourceConcurrency: 1, spreadConcurrency: 1, maxConcurrency: 1 },
  );
  await sync.run(fixture.store.checkpoint()!);
  t.is((await verifyLog(second.store)).entries, SIZE);
  t.is(toBuilder.record.busy, 1, 'told busy once');
  t.deepEqual(toBuilder.record.bundles, [], 'and asked for no bundle again');
  t.deepEqual(
    [...toFirst.record.bundles].sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
});

test('a follower sent on by the builder waits for the holder whose sync is growing, not for the builder', async (t) => {
  // Patience of 1 ms: the builder serves whoever asks it again. The first follower's sync gets a bundle
  // every 150 ms: the second reaches its frontier and waits there while the first's progress grows.
  const builder = await serving(t, fixture.store, true, { uploads: { fanout: 1, patienceMs: 1 } });
  const first = await followerStore(t);
  const firstNode = await serving(t, first.store, false);
  const fromBuilder = new Libp2pTileSource({ dialer: firstNode.node }, { peer: builder.addr });
  const paced: TileSource = {
    id: fromBuilder.id,
    checkpoint: (logId, options) => fromBuilder.checkpoint(logId, options),
    tiles: async (logId, tiles, options) => {
      if (tiles.some((tile) => tile.kind === 'entries' && tile.index >= 2))
        await new Promise((resolve) => setTimeout(resolve, 150 * tiles[0]!.index));
      return fromBuilder.tiles(logId, tiles, options);
    },
  };
  const firstDone = new LogSync(
    { db: first.db, store: first.store, sources: [paced] },
    { stepBundles: 1, perSourceConcurrency: 12 },
  ).run(fixture.store.checkpoint()!);
  firstDone.catch(() => {});
  await waitFor(
    'the first follower verified a bundle',
    () => (first.store.inProgress()?.verified ?? 0) >= 256,
  );

  const second = await secondFollower(t, builder, firstNode);
  const { toBuilder, toFirst } = second;
  const sync = new LogSync(
    {
      db: second.db,
      store: second.store,
      sources: [toBuilder.source],
      refer: (peers) => (peers.includes(second.firstId) ? [toFirst.source] : []),
    },
    { progressStallMs: 5_000 },
  );
  await sync.run(fixture.store.checkpoint()!);
  await firstDone;
  t.is((await verifyLog(second.store)).entries, SIZE);
  t.deepEqual(
    toBuilder.record.bundles.filter((i) => i < 11),
    [],
    'no full bundle from the builder while the first follower was passing them on',
  );
  t.deepEqual(
    [...new Set(toFirst.record.bundles)].filter((i) => i < 11).sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
});
