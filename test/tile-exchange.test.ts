// The tile exchange over real libp2p nodes on 127.0.0.1: node A serves a real 1,000-entry log, node B
// fetches and verifies it through Libp2pTileSource as an outsider would; then every limit, with the real
// server and with tiny rogue servers on the same protocol ID.
import '../node/runtime/promise-with-resolvers.ts';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import test, { type ExecutionContext } from 'ava';
import { BadTileRequestError, TileSourceError } from '../node/errors.ts';
import { BundleDeflater } from '../node/network/bundle-deflater.ts';
import { endStream } from '../node/network/framed-message.ts';
import type { TrustixLibp2p } from '../node/network/libp2p-services.ts';
import { Libp2pTileSource, type Libp2pTileSourceInit } from '../node/network/libp2p-tile-source.ts';
import { TileExchange } from '../node/network/tile-exchange.ts';
import type { TileExchangeInit } from '../node/network/tile-exchange-init.ts';
import type { LogDirectory } from '../node/store/log-reader.ts';
import { openCheckpoint } from '../protocol/checkpoint.ts';
import {
  MAX_NOTE_BYTES,
  MAX_TILE_BYTES,
  TILE_STATUS,
  TILES_PROTOCOL,
  TILES_PROTOCOL_DEFLATE,
  TILES_PROTOCOLS,
} from '../protocol/constants.ts';
import { decodeEntryBundle } from '../protocol/entry-bundle.ts';
import { VerificationError } from '../protocol/errors.ts';
import { proveInclusion, verifyInclusion } from '../protocol/inclusion-proof.ts';
import { generateNixSecretKey, logKeyOf } from '../protocol/keys.ts';
import { leafHash } from '../protocol/merkle.ts';
import { type TileReader, tileHashReader } from '../protocol/tile-hash-reader.ts';
import type { HashTile, TileId } from '../protocol/tile-path.ts';
import { treeTiles } from '../protocol/tiles.ts';
import { type LogFixture, openLogFixture } from './helpers/log-fixture.ts';
import { dialAddress, startTestNode, waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

const SIZE = 1000; // three full level-0 tiles and a partial one of 232; a partial level-1 tile of 3
const utf8 = new TextEncoder();
let fixture: LogFixture;
let entries: string[];
let logs: LogDirectory;
let logId: string;
const otherLogId = logKeyOf(generateNixSecretKey('not-held')).logId;
const hashTile = (level: number, index: number, width = 256): HashTile => ({
  kind: 'hash',
  level,
  index,
  width,
});

test.before(async () => {
  fixture = await openLogFixture();
  entries = [...syntheticEntries(SIZE, 23)];
  for (let i = 0; i < SIZE; i += 500) await fixture.append(entries.slice(i, i + 500));
  const { store } = fixture;
  logId = store.logId;
  logs = { get: (id) => (id === store.logId ? store : undefined), list: () => [store] };
});

test.after.always(async () => {
  await fixture?.destroy();
});

/** Node A serving the fixture log, and node B with a tile source for A. */
async function served(
  t: ExecutionContext,
  init: TileExchangeInit = {},
  client: Partial<Libp2pTileSourceInit> = {},
) {
  const [a, b] = await Promise.all([startTestNode(t), startTestNode(t)]);
  const exchange = new TileExchange({ registrar: a, logs }, init);
  await exchange.start();
  t.teardown(() => exchange.stop());
  const addr = multiaddr(dialAddress(a));
  const source = new Libp2pTileSource({ dialer: b }, { peer: addr, ...client });
  return { a, b, addr, exchange, source };
}

/** Tile streams still open on `node`, over all its connections. */
function tileStreams(node: TrustixLibp2p): Stream[] {
  return node
    .getConnections()
    .flatMap((c) => c.streams)
    .filter((s) => (TILES_PROTOCOLS as readonly (string | undefined)[]).includes(s.protocol));
}

async function noTileStreams(...nodes: TrustixLibp2p[]): Promise<void> {
  await waitFor('all tile streams closed', () => nodes.every((n) => tileStreams(n).length === 0), {
    timeout: 30_000,
  });
}

/** One raw exchange, as a foreign client would do it: `request` bytes as one message, the answer. */
async function rawExchange(
  from: TrustixLibp2p,
  to: ReturnType<typeof multiaddr>,
  request: Uint8Array,
  protocol: string = TILES_PROTOCOL,
) {
  const stream = await from.dialProtocol(to, protocol);
  const signal = AbortSignal.timeout(5000);
  try {
    const lp = lpStream(stream, { maxDataLength: 1 + MAX_TILE_BYTES });
    await lp.write(request, { signal });
    await stream.close({ signal });
    const answer = (await lp.read({ signal })).subarray();
    await endStream(stream, signal);
    return { answer, stream };
  } catch (err) {
    stream.abort(err as Error);
    throw err;
  }
}

/**
 * A rogue peer on the tile protocol (1.0.0 unless told): `answer` gets each stream after its request was
 * read.
 */
async function rogue(
  t: ExecutionContext,
  answer: (stream: Stream, path: string) => Promise<void> | void,
  protocol: string = TILES_PROTOCOL,
) {
  const r = await startTestNode(t);
  await r.handle(protocol, async (stream) => {
    const lp = lpStream(stream);
    const path = new TextDecoder().decode((await lp.read()).subarray());
    await answer(lp.unwrap(), path);
  });
  return { r, addr: multiaddr(dialAddress(r)) };
}

/** Plain bytes, for comparing Buffers (the store, the network) with Uint8Arrays. */
const bytes = (data: Uint8Array | undefined) => (data === undefined ? undefined : new Uint8Array(data));

function send(stream: Stream, ...parts: Uint8Array[]): void {
  for (const p of parts) stream.send(p);
}

test('a peer fetches the checkpoint and tiles of a 1,000-entry log and verifies them like an outsider', async (t) => {
  const { a, b, source } = await served(t);
  const note = await source.checkpoint(logId);
  t.truthy(note);
  const cp = openCheckpoint(note!, fixture.key.verifier);
  t.is(cp.size, SIZE);

  let tilesFetched = 0;
  const tiles: TileReader = {
    async readTiles(wanted) {
      const bodies = await source.tiles(logId, wanted);
      tilesFetched += bodies.length;
      return bodies.map((body, i) => {
        if (body === undefined) throw new Error(`peer lacks tile ${wanted[i]!.level}/${wanted[i]!.index}`);
        return body;
      });
    },
  };
  const hashes = tileHashReader(cp.size, cp.root, tiles);
  for (const index of [0, 255, 256, 767, 768, 999]) {
    const tileIndex = Math.floor(index / 256);
    const width = Math.min(256, SIZE - tileIndex * 256);
    const [bundle] = await source.tiles(logId, [{ kind: 'entries', index: tileIndex, width }]);
    const entry = decodeEntryBundle(bundle!, width)[index % 256]!;
    t.is(new TextDecoder().decode(entry), entries[index]!);
    const proof = await proveInclusion(cp.size, index, hashes);
    verifyInclusion(index, cp.size, leafHash(entry), proof, cp.root);
    // The check can fail: the same proof does not hold for another entry.
    const other = utf8.encode(entries[(index + 1) % SIZE]!);
    t.throws(() => verifyInclusion(index, cp.size, leafHash(other), proof, cp.root), {
      instanceOf: VerificationError,
    });
  }
  t.true(tilesFetched > 0);

  // Every tile of the tree, byte for byte what the store holds; timed.
  const all: TileId[] = [...treeTiles(SIZE)];
  for (let i = 0; i * 256 < SIZE; i++)
    all.push({ kind: 'entries', index: i, width: Math.min(256, SIZE - i * 256) });
  const started = performance.now();
  const bodies = await source.tiles(logId, all);
  const ms = performance.now() - started;
  for (const [i, tile] of all.entries()) t.deepEqual(bodies[i], bytes(await fixture.store.readTile(tile)));
  const total = bodies.reduce((n, body) => n + body!.length, 0);
  t.log(`${all.length} tiles (${total} bytes) in ${ms.toFixed(1)} ms over loopback`);
  await noTileStreams(a, b);
});

test('an unknown log, a tile beyond the tree and an unknown resource name give undefined (status 1)', async (t) => {
  const { a, b, addr, source } = await served(t);
  t.is(await source.checkpoint(otherLogId), undefined);
  t.deepEqual(await source.tiles(otherLogId, [hashTile(0, 0)]), [undefined]);
  // The log holds entries 0..999: no full tile 3, no tile 4, no level-1 tile of width 4.
  t.deepEqual(await source.tiles(logId, [hashTile(0, 3), hashTile(0, 4, 10), hashTile(1, 0, 4)]), [
    undefined,
    undefined,
    undefined,
  ]);
  const { answer } = await rawExchange(b, addr, utf8.encode(`${logId}/nothing-here`));
  t.deepEqual(bytes(answer), Uint8Array.of(TILE_STATUS.notFound));
  await noTileStreams(a, b);
});

test('malformed requests get status 2; the client reports BadTileRequestError, not a source failure', async (t) => {
  const { a, b, addr, source } = await served(t);
  const err = await t.throwsAsync(source.checkpoint('not-a-log-id'), { instanceOf: BadTileRequestError });
  t.is(err?.path, 'not-a-log-id/checkpoint');
  await t.throwsAsync(source.checkpoint(logId.toUpperCase()), { instanceOf: BadTileRequestError });
  const bad = [
    Uint8Array.of(0xff, 0xfe, 0x00), // not UTF-8
    utf8.encode(`\uFEFF${logId}/checkpoint`), // a BOM is not stripped
    utf8.encode(`${logId}/tile/0/000.p/256`), // not canonical
    utf8.encode(`${logId}/tile/0/x000/001`), // not canonical
    utf8.encode(`/${logId}/checkpoint`),
    new Uint8Array(0),
  ];
  for (const request of bad) {
    const { answer } = await rawExchange(b, addr, request);
    t.deepEqual(
      bytes(answer),
      Uint8Array.of(TILE_STATUS.badRequest),
      JSON.stringify([...request.slice(0, 8)]),
    );
  }
  // Still serving.
  t.truthy(await source.checkpoint(logId));
  await noTileStreams(a, b);
});

test('an oversized request gets status 2 and a closed stream, and the server keeps serving', async (t) => {
  const { a, b, addr, source } = await served(t);
  const { answer, stream } = await rawExchange(b, addr, utf8.encode(`${logId}/${'x'.repeat(1000)}`));
  t.deepEqual(bytes(answer), Uint8Array.of(TILE_STATUS.badRequest));
  t.is(stream.status, 'closed');
  t.is(stream.remoteWriteStatus, 'closed');

  // A length prefix whose varint alone is too long: refused the same way.
  const raw = await b.dialProtocol(addr, TILES_PROTOCOL);
  const lp = lpStream(raw);
  send(raw, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0x01));
  const signal = AbortSignal.timeout(5000);
  t.deepEqual(bytes((await lp.read({ signal })).subarray()), Uint8Array.of(TILE_STATUS.badRequest));
  await endStream(raw, signal);

  // The client refuses to send one at all.
  await t.throwsAsync(source.checkpoint('a'.repeat(300)), { instanceOf: BadTileRequestError });
  t.truthy(await source.checkpoint(logId));
  await noTileStreams(a, b);
});

test('a peer over the rate limit gets busy (status 3) -> TileSourceError busy; other peers are served', async (t) => {
  const { a, source } = await served(t, { maxRequestsPerPeer: 3, rateWindowMs: 60_000 });
  for (let i = 0; i < 3; i++) t.truthy(await source.checkpoint(logId));
  const err = await t.throwsAsync(source.checkpoint(logId), { instanceOf: TileSourceError });
  t.is(err?.reason, 'busy');
  const batch = await t.throwsAsync(source.tiles(logId, [hashTile(0, 0), hashTile(0, 1)]), {
    instanceOf: TileSourceError,
  });
  t.is(batch?.reason, 'busy');

  const c = await startTestNode(t);
  const fromC = new Libp2pTileSource({ dialer: c }, { peer: multiaddr(dialAddress(a)) });
  t.truthy(await fromC.checkpoint(logId));
});

test('a server that never answers: the client fails within its timeout, with at most maxConcurrency streams', async (t) => {
  const asked: string[] = [];
  const { addr } = await rogue(t, (_stream, path) => {
    asked.push(path); // read the request, never answer
  });
  const b = await startTestNode(t);
  const source = new Libp2pTileSource({ dialer: b }, { peer: addr, timeoutMs: 400, maxConcurrency: 2 });
  // Upper bounds are generous: they catch a missing timeout (a hang), not a slow machine.
  const GENEROUS_MS = 15_000;

  let started = performance.now();
  const err = await t.throwsAsync(source.checkpoint(logId), { instanceOf: TileSourceError });
  let elapsed = performance.now() - started;
  t.is(err?.reason, 'timeout');
  t.true(elapsed >= 350 && elapsed < GENEROUS_MS, `failed after ${elapsed} ms`);

  // Five tiles, two streams at a time: the batch fails at the first timeout and the waiting three never start.
  started = performance.now();
  const batch = await t.throwsAsync(
    source.tiles(
      logId,
      [0, 1, 2, 3, 4].map((i) => hashTile(0, i)),
    ),
    {
      instanceOf: TileSourceError,
    },
  );
  elapsed = performance.now() - started;
  t.is(batch?.reason, 'timeout');
  t.true(elapsed < GENEROUS_MS, `failed after ${elapsed} ms`);
  await noTileStreams(b);
  // Once every stream of the client is closed, no request can still be on its way: the rogue saw at most
  // the two that were in flight (on a loaded machine fewer: a stream may be cut before its request is read).
  const tileRequests = asked.filter((path) => path.includes('/tile/')).length;
  t.true(tileRequests <= 2, `${tileRequests} tile requests reached the server`);

  // The caller's own signal wins over the timeout, with the caller's reason.
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('caller gave up')), 50);
  await t.throwsAsync(source.checkpoint(logId, { signal: controller.signal }), { message: 'caller gave up' });
  await noTileStreams(b);
});

test('a server answering more than the largest valid body is refused (oversized); exactly the cap is accepted', async (t) => {
  let extra = 0;
  const { addr } = await rogue(t, async (stream, path) => {
    if (path.startsWith('huge/')) {
      // Claims a gigabyte, sends nothing more: refused from the length prefix alone.
      send(stream, Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x04));
    } else {
      const cap = path.endsWith('/checkpoint') ? MAX_NOTE_BYTES : 256 * 32;
      const body = new Uint8Array(1 + cap + extra); // status 0, then zeros
      await lpStream(stream).write(body);
    }
    await stream.close();
  });
  const b = await startTestNode(t);
  const source = new Libp2pTileSource({ dialer: b }, { peer: addr });

  const [atCap] = await source.tiles(logId, [hashTile(0, 0)]);
  t.is(atCap?.length, 256 * 32);
  t.is((await source.checkpoint(logId))?.length, MAX_NOTE_BYTES);

  extra = 1;
  for (const request of [
    source.tiles(logId, [hashTile(0, 0)]),
    source.checkpoint(logId),
    source.checkpoint('huge'),
  ]) {
    const err = await t.throwsAsync(request, { instanceOf: TileSourceError });
    t.is(err?.reason, 'oversized');
  }
  // A partial tile's cap is its own width, not a full tile's.
  extra = 0;
  const partial = await t.throwsAsync(source.tiles(logId, [hashTile(0, 0, 10)]), {
    instanceOf: TileSourceError,
  });
  t.is(partial?.reason, 'oversized');
  await noTileStreams(b);
});

test('an empty answer, a status other than 0 with a body and an unknown status are malformed', async (t) => {
  const answers: Record<string, Uint8Array> = {
    empty: new Uint8Array(0),
    body: Uint8Array.of(TILE_STATUS.notFound, 1, 2, 3),
    unknown: Uint8Array.of(9),
  };
  const { addr } = await rogue(t, async (stream, path) => {
    await lpStream(stream).write(answers[path.split('/')[0]!]!);
    await stream.close();
  });
  const b = await startTestNode(t);
  const source = new Libp2pTileSource({ dialer: b }, { peer: addr });
  for (const name of Object.keys(answers)) {
    const err = await t.throwsAsync(source.checkpoint(name), { instanceOf: TileSourceError }, name);
    t.is(err?.reason, 'malformed', name);
  }
  await noTileStreams(b);
});

test('max inbound streams: the excess is refused, held streams are cut at the request timeout, serving goes on', async (t) => {
  const { a, b, addr, source } = await served(
    t,
    // Long enough that a loaded machine still tries the excess streams while both slots are held.
    { maxInboundStreams: 2, requestTimeoutMs: 4000 },
    { maxConcurrency: 2 },
  );
  // Two streams that never send their request hold both slots.
  const held = await Promise.all([
    b.dialProtocol(addr, TILES_PROTOCOL),
    b.dialProtocol(addr, TILES_PROTOCOL),
  ]);
  const closed = held.map(
    (s) => new Promise((resolve) => s.addEventListener('close', resolve, { once: true })),
  );
  const started = performance.now();

  const refused = await t.throwsAsync(source.checkpoint(logId), { instanceOf: TileSourceError });
  t.is(refused?.reason, 'unavailable');
  await t.throwsAsync(rawExchange(b, addr, utf8.encode(`${logId}/checkpoint`)));

  // The server cuts the silent streams after requestTimeoutMs, which frees the slots.
  await Promise.all(closed);
  const elapsed = performance.now() - started;
  t.true(elapsed >= 3000 && elapsed < 20_000, `held streams cut after ${elapsed} ms`);
  for (const s of held) t.not(s.status, 'open');
  t.truthy(await source.checkpoint(logId));
  const bodies = await source.tiles(logId, [hashTile(0, 0), hashTile(0, 1), hashTile(0, 2)]);
  t.true(bodies.every((body) => body?.length === 256 * 32));
  await noTileStreams(a, b);
});

test('stop() unregisters the protocol: a later request fails as unavailable (protocol not supported)', async (t) => {
  const { a, b, addr, exchange, source } = await served(t, { requestTimeoutMs: 30_000 });
  t.true(exchange.isStarted());
  t.truthy(await source.checkpoint(logId));
  // A stream in progress (its request not sent yet) is aborted by stop(), not left to its timeout.
  const pending = await b.dialProtocol(addr, TILES_PROTOCOL);
  const cut = new Promise((resolve) => pending.addEventListener('close', resolve, { once: true }));
  await waitFor('the server to hold the stream', () => tileStreams(a).length === 1);
  const stopped = performance.now();
  await exchange.stop();
  await cut;
  t.true(performance.now() - stopped < 2000);
  t.false(exchange.isStarted());
  const err = await t.throwsAsync(source.checkpoint(logId), { instanceOf: TileSourceError });
  t.is(err?.reason, 'unavailable');
  t.is((err?.cause as Error | undefined)?.name, 'UnsupportedProtocolError');
  // And start() serves again.
  await exchange.start();
  t.truthy(await source.checkpoint(logId));
  await noTileStreams(a, b);
});

const BUNDLE_0 = { kind: 'entries', index: 0, width: 256 } as const;

test('over 1.1.0 an entry bundle comes deflated and inflates to the stored bundle; hash tiles and 1.0.0 as stored', async (t) => {
  const { b, addr } = await served(t);
  const stored = bytes(await fixture.store.readTile(BUNDLE_0))!;
  const bundlePath = utf8.encode(`${logId}/tile/entries/000`);
  const v11 = await rawExchange(b, addr, bundlePath, TILES_PROTOCOL_DEFLATE);
  t.is(v11.stream.protocol, TILES_PROTOCOL_DEFLATE);
  t.is(v11.answer[0], TILE_STATUS.deflated);
  t.true(v11.answer.length < stored.length / 2, `${v11.answer.length} bytes for ${stored.length}`);
  t.deepEqual(bytes(inflateRawSync(v11.answer.subarray(1))), stored);
  const tile = await rawExchange(b, addr, utf8.encode(`${logId}/tile/0/000`), TILES_PROTOCOL_DEFLATE);
  t.is(tile.answer[0], TILE_STATUS.ok, 'hash tiles do not deflate: sent as stored');
  const v10 = await rawExchange(b, addr, bundlePath);
  t.is(v10.answer[0], TILE_STATUS.ok);
  t.deepEqual(bytes(v10.answer.subarray(1)), stored);
});

test('the tile source speaks 1.1.0 and inflates, and falls back to 1.0.0 with a peer that lacks it', async (t) => {
  const stored = bytes(await fixture.store.readTile(BUNDLE_0))!;
  // A 1.1.0 peer answering every request deflated (status 4): only a 1.1.0 client can read it.
  const newer = await rogue(
    t,
    async (stream) => {
      await lpStream(stream).write(
        new Uint8Array([TILE_STATUS.deflated, ...deflateRawSync(stored, { level: 1 })]),
      );
      await stream.close();
    },
    TILES_PROTOCOL_DEFLATE,
  );
  const b = await startTestNode(t);
  const source = new Libp2pTileSource({ dialer: b }, { peer: newer.addr });
  for (let i = 0; i < 3; i++) t.deepEqual(bytes((await source.tiles(logId, [BUNDLE_0]))[0]), stored);
  // A 1.0.0 peer (the real server, an older node's): the source asks it over 1.0.0, answers as stored.
  const older = await rogue(t, async (stream) => {
    await lpStream(stream).write(new Uint8Array([TILE_STATUS.ok, ...stored]));
    await stream.close();
  });
  const oldSource = new Libp2pTileSource({ dialer: b }, { peer: older.addr });
  for (let i = 0; i < 3; i++) t.deepEqual(bytes((await oldSource.tiles(logId, [BUNDLE_0]))[0]), stored);
});

test('a deflated answer that inflates past the largest bundle, does not inflate, or comes over 1.0.0 fails the source', async (t) => {
  // 17 MB of zeros deflate to ~17 KB: past 256 maximal entries (16.8 MB) once inflated.
  const bomb = deflateRawSync(new Uint8Array(17_000_000), { level: 9 });
  const garbage = Uint8Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 0xff);
  const answers: Record<string, Uint8Array> = {
    bomb: new Uint8Array([TILE_STATUS.deflated, ...bomb]),
    garbage: new Uint8Array([TILE_STATUS.deflated, ...garbage]),
  };
  const newer = await rogue(
    t,
    async (stream, path) => {
      await lpStream(stream).write(answers[path.split('/')[0]!]!);
      await stream.close();
    },
    TILES_PROTOCOL_DEFLATE,
  );
  const b = await startTestNode(t);
  const source = new Libp2pTileSource({ dialer: b }, { peer: newer.addr });
  const bombErr = await t.throwsAsync(source.tiles('bomb', [BUNDLE_0]), { instanceOf: TileSourceError });
  t.is(bombErr?.reason, 'oversized');
  const garbageErr = await t.throwsAsync(source.tiles('garbage', [BUNDLE_0]), {
    instanceOf: TileSourceError,
  });
  t.is(garbageErr?.reason, 'malformed');
  // Status 4 is no answer of 1.0.0.
  const older = await rogue(t, async (stream) => {
    await lpStream(stream).write(answers['garbage']!);
    await stream.close();
  });
  const oldSource = new Libp2pTileSource({ dialer: b }, { peer: older.addr });
  const oldErr = await t.throwsAsync(oldSource.tiles(logId, [BUNDLE_0]), { instanceOf: TileSourceError });
  t.is(oldErr?.reason, 'malformed');
});

test('deflating is bounded: a budget of bytes a second, then bundles go out as stored; the same bundle is deflated once', async (t) => {
  const stored = bytes(await fixture.store.readTile(BUNDLE_0))!;
  const other = bytes(await fixture.store.readTile({ ...BUNDLE_0, index: 1 }))!;
  // A budget of one bundle a second (no refill to speak of within the test's few milliseconds).
  const deflater = new BundleDeflater({ maxBytesPerSecond: stored.length });
  t.teardown(() => deflater.clear());
  const first = await deflater.deflate(stored);
  t.truthy(first);
  t.deepEqual(bytes(inflateRawSync(first!)), stored);
  t.is(await deflater.deflate(stored), first, 'the same bytes: the cached deflation, no budget used');
  t.is(await deflater.deflate(other), undefined, 'over the budget: sent as stored');
  t.is(await deflater.deflate(stored.subarray(0, 500)), undefined, 'too small to deflate');
});

test('upload slots: a second peer is told busy for entry bundles while one holds the slot; hash tiles and the checkpoint are served', async (t) => {
  const { a, source } = await served(t, { uploads: { slots: 1, idleMs: 60_000 } });
  const bundle = { kind: 'entries', index: 0, width: 256 } as const;
  t.truthy((await source.tiles(logId, [bundle]))[0]);
  const other = new Libp2pTileSource({ dialer: await startTestNode(t) }, { peer: multiaddr(dialAddress(a)) });
  const err = await t.throwsAsync(other.tiles(logId, [bundle]), { instanceOf: TileSourceError });
  t.is(err?.reason, 'busy');
  t.truthy(await other.checkpoint(logId));
  t.truthy((await other.tiles(logId, [hashTile(0, 0), hashTile(1, 0, 3)]))[1]);
  t.truthy((await source.tiles(logId, [bundle]))[0], 'the holder is still served');
  t.deepEqual(
    await other.tiles(logId, [{ kind: 'entries', index: 99, width: 256 }]),
    [undefined],
    'what is not held is "not found", never busy',
  );
});
