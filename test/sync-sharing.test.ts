/**
 * Followers trade the verified tiles of a sync under way (docs/PROTOCOL.md, "Tile exchange", progress):
 * real libp2p nodes on 127.0.0.1, real LevelDB stores and syncs. A builder serves a 3,000-entry log; a
 * follower syncing it from the builder is held after its first four bundles (the builder's answers for
 * the others wait), and serves those to a second follower: it says how far it verified, serves what it
 * verified (staged on disk or still in memory) and answers "not found" beyond. A peer that claims more
 * than it serves is blamed for withholding.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import test, { type ExecutionContext } from 'ava';
import { TileSourceError } from '../node/errors.ts';
import { Libp2pTileSource } from '../node/network/libp2p-tile-source.ts';
import { TileExchange } from '../node/network/tile-exchange.ts';
import type { TileExchangeInit } from '../node/network/tile-exchange-init.ts';
import { openDatabase } from '../node/store/database.ts';
import type { LogDirectory, LogReader } from '../node/store/log-reader.ts';
import { LogStore } from '../node/store/log-store.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import { LogSync } from '../node/sync/log-sync.ts';
import type { SourceFailedEvent, TileSource } from '../node/sync/tile-source.ts';
import { openSyncProgress } from '../protocol/sync-progress.ts';
import type { TileId } from '../protocol/tile-path.ts';
import { type LogFixture, openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { dialAddress, startTestNode, waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

const SIZE = 3000; // 11 full bundles and a partial one of 184
/** The first follower's sync verifies the bundles below this, then waits. */
const HELD_FROM = 4;
let fixture: LogFixture;

test.before(async () => {
  fixture = await openLogFixture();
  const entries = [...syntheticEntries(SIZE, 41)];
  for (let i = 0; i < SIZE; i += 1000) await fixture.append(entries.slice(i, i + 1000));
});

test.after.always(async () => {
  await fixture?.destroy();
});

const directory = (reader: LogReader): LogDirectory => ({
  get: (id) => (id === reader.logId ? reader : undefined),
  list: () => [reader],
});

/** A libp2p node serving `logs` over the tile exchange, and its address. */
async function serving(t: ExecutionContext, logs: LogDirectory, init?: TileExchangeInit) {
  const node = await startTestNode(t);
  const exchange = new TileExchange({ registrar: node, logs }, init);
  await exchange.start();
  t.teardown(() => exchange.stop());
  return multiaddr(dialAddress(node));
}

async function followerStore(t: ExecutionContext) {
  const dir = await tempDir('trustix-share-');
  const db = await openDatabase(join(dir, 'db'));
  t.teardown(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { db, store: await LogStore.open(db, fixture.key) };
}

/** `source`, with its answers for bundles from HELD_FROM on held until `release` settles. */
function heldBack(source: TileSource, release: Promise<void>): TileSource {
  return {
    id: source.id,
    checkpoint: (logId, options) => source.checkpoint(logId, options),
    tiles: async (logId, tiles, options) => {
      if (tiles.some((tile) => tile.kind === 'entries' && tile.index >= HELD_FROM)) await release;
      return source.tiles(logId, tiles, options);
    },
  };
}

/** `source`, counting the bundles it answered with a body (and its busy answers in `busy`). */
function counted(source: TileSource, bundles: number[], busy = { count: 0 }): TileSource {
  return {
    id: source.id,
    checkpoint: (logId, options) => source.checkpoint(logId, options),
    progress: (logId, options) => source.progress!(logId, options),
    tiles: async (logId, tiles, options) => {
      const bodies = await source.tiles(logId, tiles, options).catch((err: unknown) => {
        if (err instanceof TileSourceError && err.reason === 'busy') busy.count++;
        throw err;
      });
      tiles.forEach((tile, i) => {
        if (tile.kind === 'entries' && bodies[i] !== undefined) bundles.push(tile.index);
      });
      return bodies;
    },
  };
}

/**
 * The builder, and a follower whose sync from it has verified bundles 0-3 (0-2 stored as a step with
 * stepBundles 3, 3 in memory awaiting its step) and waits for the rest until `release` is called.
 */
async function midSync(t: ExecutionContext, builder?: TileExchangeInit) {
  const builderAddr = await serving(t, directory(fixture.store), builder);
  const f = await followerStore(t);
  const followerAddr = await serving(t, directory(f.store));
  const dialer = await startTestNode(t);
  const release = Promise.withResolvers<void>();
  t.teardown(() => release.resolve());
  const sync = new LogSync(
    {
      db: f.db,
      store: f.store,
      sources: [heldBack(new Libp2pTileSource({ dialer }, { peer: builderAddr }), release.promise)],
    },
    { stepBundles: 3, requestTimeoutMs: 60_000 },
  );
  const done = sync.run(fixture.store.checkpoint()!);
  done.catch(() => {});
  await waitFor('the follower verified four bundles', () => (f.store.inProgress()?.verified ?? 0) >= 1024);
  return { builderAddr, followerAddr, follower: f, release: () => release.resolve(), done };
}

const bundle = (index: number, width = 256): TileId => ({ kind: 'entries', index, width });
const level0 = (index: number, width = 256): TileId => ({ kind: 'hash', level: 0, index, width });
const plain = (data: Uint8Array | undefined) => (data === undefined ? undefined : new Uint8Array(data));

test('a follower mid-sync says how far it verified, serves those tiles, and "not found" beyond', async (t) => {
  const { followerAddr, follower, release, done } = await midSync(t);
  const peer = new Libp2pTileSource({ dialer: await startTestNode(t) }, { peer: followerAddr });
  const { logId } = fixture.store;

  const claim = openSyncProgress((await peer.progress(logId))!, fixture.key.verifier);
  t.is(claim.verified, HELD_FROM * 256);
  t.is(claim.target.size, SIZE);
  t.deepEqual(claim.target.note, fixture.store.checkpoint()!.note);
  t.is(await peer.checkpoint(logId), undefined, 'no checkpoint of its own yet');

  // Bundles 0-2 are staged beyond the checkpoint (read from disk), bundle 3 is still in memory.
  const verified = [0, 1, 2, 3].flatMap((i) => [bundle(i), level0(i)]);
  const bodies = await peer.tiles(logId, verified);
  for (const [i, tile] of verified.entries())
    t.deepEqual(plain(bodies[i]), plain(await fixture.store.readTile(tile)), JSON.stringify(tile));

  // Not verified (held back), a narrower width than the target's, an upper tile: not found.
  t.deepEqual(await peer.tiles(logId, [bundle(4), level0(4), bundle(11, 184), bundle(2, 100)]), [
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
  t.deepEqual(await peer.tiles(logId, [{ kind: 'hash', level: 1, index: 0, width: 11 }]), [undefined]);

  release();
  await done;
  t.is(follower.store.size, SIZE);
  t.is(await peer.progress(logId), undefined, 'no sync under way');
  t.is((await peer.tiles(logId, [bundle(4)]))[0]?.length, (await fixture.store.readTile(bundle(4)))!.length);
});

test('a second follower fetches the verified bundles from the follower mid-sync, not the builder', async (t) => {
  const { builderAddr, followerAddr, release, done } = await midSync(t);
  const dialer = await startTestNode(t);
  const fromBuilder: number[] = [];
  const fromFollower: number[] = [];
  const second = await followerStore(t);
  const failed: SourceFailedEvent[] = [];
  const follower = counted(new Libp2pTileSource({ dialer }, { peer: followerAddr }), fromFollower);
  const sync = new LogSync({
    db: second.db,
    store: second.store,
    sources: [counted(new Libp2pTileSource({ dialer }, { peer: builderAddr }), fromBuilder), follower],
  });
  sync.addEventListener('source-failed', (e) => failed.push(e.detail));
  await sync.run(fixture.store.checkpoint()!);
  t.is((await verifyLog(second.store)).entries, SIZE);
  t.deepEqual(failed, [], 'asked beyond what it verified, the follower said "not found": no fault');
  t.true(fromFollower.length > 0, 'the follower served bundles');
  t.true(
    fromFollower.every((i) => i < HELD_FROM),
    `only verified ones: ${fromFollower}`,
  );
  t.false(
    fromBuilder.some((i) => fromFollower.includes(i)),
    `none fetched twice: builder ${fromBuilder}, follower ${fromFollower}`,
  );
  release();
  await done;
});

test('a builder with one upload slot tells a second follower busy, which takes every bundle from the first', async (t) => {
  // The first follower's sync holds the builder's one slot (kept for a minute of silence here) while it
  // waits; the second is told busy for bundles, never dropped for it, and fetches them all from the first.
  const { builderAddr, followerAddr, release, done } = await midSync(t, {
    uploads: { slots: 1, idleMs: 60_000, holdMs: 60_000 },
  });
  const dialer = await startTestNode(t);
  const fromBuilder: number[] = [];
  const fromFollower: number[] = [];
  const busy = { count: 0 };
  const second = await followerStore(t);
  const failed: SourceFailedEvent[] = [];
  const sync = new LogSync({
    db: second.db,
    store: second.store,
    sources: [
      counted(new Libp2pTileSource({ dialer }, { peer: builderAddr }), fromBuilder, busy),
      counted(new Libp2pTileSource({ dialer }, { peer: followerAddr }), fromFollower),
    ],
  });
  sync.addEventListener('source-failed', (e) => failed.push(e.detail));
  const synced = sync.run(fixture.store.checkpoint()!);
  await waitFor(
    'the builder said busy, the first follower served',
    () => busy.count > 0 && fromFollower.length > 0,
  );
  release();
  await synced;
  t.is((await verifyLog(second.store)).entries, SIZE);
  t.deepEqual(fromBuilder, [], 'no bundle from the builder');
  t.deepEqual(
    [...fromFollower].sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
  t.deepEqual(failed, [], 'busy is no fault');
  await done;
});

test('a peer that claims to have verified tiles and answers "not found" for them is withholding', async (t) => {
  const builderAddr = await serving(t, directory(fixture.store));
  const target = fixture.store.checkpoint()!;
  // A peer whose progress claims eight verified bundles of the target, and that serves none.
  const liar: LogReader = {
    logId: fixture.store.logId,
    key: fixture.key,
    checkpoint: () => undefined,
    readTile: async () => undefined,
    inProgress: () => ({ target, verified: 2048, readTile: async () => undefined }),
  };
  const liarAddr = await serving(t, directory(liar));
  const dialer = await startTestNode(t);
  const f = await followerStore(t);
  const liarSource = new Libp2pTileSource({ dialer }, { peer: liarAddr });
  const sync = new LogSync({
    db: f.db,
    store: f.store,
    sources: [new Libp2pTileSource({ dialer }, { peer: builderAddr }), liarSource],
  });
  const failed: SourceFailedEvent[] = [];
  sync.addEventListener('source-failed', (e) => failed.push(e.detail));
  await sync.run(target);
  t.is((await verifyLog(f.store)).entries, SIZE, 'the builder served the rest');
  t.deepEqual(
    failed.map((e) => [e.sourceId, e.reason]),
    [[liarSource.id, 'withheld']],
  );
  t.regex(failed[0]!.error.message, /leaves it says it verified/);
});

test('a peer that restarted mid-sync and now claims less is not blamed for its earlier claim', async (t) => {
  const builderAddr = await serving(t, directory(fixture.store));
  const target = fixture.store.checkpoint()!;
  // A peer whose sync claims eight verified bundles until it is first asked for one of them: then it
  // "restarts", losing what it held in memory, and has no sync under way (as after a restart).
  let restarted = false;
  const restarting: LogReader = {
    logId: fixture.store.logId,
    key: fixture.key,
    checkpoint: () => undefined,
    readTile: async () => undefined,
    inProgress: () =>
      restarted
        ? undefined
        : {
            target,
            verified: 2048,
            readTile: async () => {
              restarted = true;
              return undefined;
            },
          },
  };
  const restartingAddr = await serving(t, directory(restarting));
  const dialer = await startTestNode(t);
  const f = await followerStore(t);
  const restartingSource = new Libp2pTileSource({ dialer }, { peer: restartingAddr });
  const sync = new LogSync({
    db: f.db,
    store: f.store,
    sources: [restartingSource, new Libp2pTileSource({ dialer }, { peer: builderAddr })],
  });
  const failed: SourceFailedEvent[] = [];
  sync.addEventListener('source-failed', (e) => failed.push(e.detail));
  await sync.run(target);
  t.true(restarted, 'the peer was asked for a tile it claimed');
  t.is((await verifyLog(f.store)).entries, SIZE, 'the builder served the rest');
  t.deepEqual(failed, [], 'no source blamed');
});
