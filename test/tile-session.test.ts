// Tile exchange sessions (/trustix/tiles/1.2.0) over real libp2p nodes on 127.0.0.1: the real server
// with a raw client that pipelines as a foreign implementation may, the real client (Libp2pTileSource)
// with the real server, and the client against rogue session servers that break the protocol.
import '../node/runtime/promise-with-resolvers.ts';
import type { Stream } from '@libp2p/interface';
import { byteStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import test, { type ExecutionContext } from 'ava';
import { TileSourceError } from '../node/errors.ts';
import { framed, readFramed } from '../node/network/framed-message.ts';
import type { TrustixLibp2p } from '../node/network/libp2p-services.ts';
import { Libp2pTileSource } from '../node/network/libp2p-tile-source.ts';
import { TileExchange } from '../node/network/tile-exchange.ts';
import type { TileExchangeInit } from '../node/network/tile-exchange-init.ts';
import type { LogDirectory } from '../node/store/log-reader.ts';
import {
  MAX_TILE_BYTES,
  TILE_SESSION_DEPTH,
  TILE_STATUS,
  TILES_PROTOCOL_SESSION,
  TILES_PROTOCOLS,
} from '../protocol/constants.ts';
import type { HashTile } from '../protocol/tile-path.ts';
import { type LogFixture, openLogFixture } from './helpers/log-fixture.ts';
import { dialAddress, startTestNode, waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

const SIZE = 600; // two full level-0 tiles and a partial one of 88
const utf8 = new TextEncoder();
let fixture: LogFixture;
let logs: LogDirectory;
let logId: string;
const tile0: HashTile = { kind: 'hash', level: 0, index: 0, width: 256 };
const bundle = (index: number) => ({ kind: 'entries', index, width: 256 }) as const;

test.before(async () => {
  fixture = await openLogFixture();
  await fixture.append([...syntheticEntries(SIZE, 41)]);
  const { store } = fixture;
  logId = store.logId;
  logs = { get: (id) => (id === store.logId ? store : undefined), list: () => [store] };
});

test.after.always(async () => {
  await fixture?.destroy();
});

/** Node A serving the fixture log; node B to ask it. */
async function served(t: ExecutionContext, init: TileExchangeInit = {}) {
  const [a, b] = await Promise.all([startTestNode(t), startTestNode(t)]);
  const exchange = new TileExchange({ registrar: a, logs }, init);
  await exchange.start();
  t.teardown(() => exchange.stop());
  return { a, b, addr: multiaddr(dialAddress(a)) };
}

function tileStreams(node: TrustixLibp2p): Stream[] {
  return node
    .getConnections()
    .flatMap((c) => c.streams)
    .filter((s) => (TILES_PROTOCOLS as readonly (string | undefined)[]).includes(s.protocol));
}

/** A raw 1.2.0 session, as a foreign client would drive it: requests written at will, answers read in turn. */
async function rawSession(from: TrustixLibp2p, to: ReturnType<typeof multiaddr>) {
  const stream = await from.dialProtocol(to, TILES_PROTOCOL_SESSION);
  const bytes = byteStream(stream, { maxBufferSize: 64 * 1024 * 1024 });
  return {
    stream,
    send(...requests: (string | Uint8Array)[]) {
      for (const r of requests) stream.send(framed(typeof r === 'string' ? utf8.encode(r) : r));
    },
    next: () => readFramed(bytes, 1 + MAX_TILE_BYTES, { signal: AbortSignal.timeout(10_000) }),
  };
}

/**
 * A rogue 1.2.0 server: `answer` gets each request's path and index; what it returns is sent framed,
 * 'silent' sends nothing, 'end' closes the server's side.
 */
async function rogueSession(
  t: ExecutionContext,
  answer: (path: string, i: number) => Uint8Array | 'silent' | 'end',
) {
  const r = await startTestNode(t);
  await r.handle(TILES_PROTOCOL_SESSION, async (stream) => {
    const bytes = byteStream(stream);
    for (let i = 0; ; i++) {
      const request = await readFramed(bytes, 256).catch(() => undefined);
      if (request === undefined) return;
      const a = answer(new TextDecoder().decode(request), i);
      if (a === 'end') return stream.close().catch(() => undefined);
      if (a !== 'silent') stream.send(framed(a));
    }
  });
  return multiaddr(dialAddress(r));
}

test('the tile source sends its requests to a 1.2.0 peer on one stream, and closes it once idle', async (t) => {
  const { a, b, addr } = await served(t);
  const source = new Libp2pTileSource({ dialer: b }, { peer: addr, sessionIdleMs: 300 });
  const stored = await fixture.store.readTile(bundle(0));
  const fetched = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0 ? source.tiles(logId, [bundle(0)]) : source.checkpoint(logId),
    ),
  );
  t.deepEqual(new Uint8Array((fetched[0] as Uint8Array[])[0]!), new Uint8Array(stored!));
  t.truthy(fetched[1]);
  const streams = tileStreams(b);
  t.is(streams.length, 1, 'one stream for the 40 requests');
  t.is(streams[0]?.protocol, TILES_PROTOCOL_SESSION);
  t.is(tileStreams(a).length, 1);
  // Idle for sessionIdleMs: the client closes its side, the server its own; the next request opens anew.
  await waitFor(
    'the idle session closed on both ends',
    () => tileStreams(a).length + tileStreams(b).length === 0,
  );
  t.truthy(await source.checkpoint(logId));
  t.is(tileStreams(b).length, 1);
});

test('a session answers in the order asked, whatever each answer is', async (t) => {
  const { b, addr } = await served(t);
  const s = await rawSession(b, addr);
  s.send(
    `${logId}/tile/entries/001`,
    `${logId}/checkpoint`,
    'not-a-log-id/checkpoint',
    `${logId}/tile/0/005`,
    `${logId}/tile/0/000`,
  );
  const answers = [await s.next(), await s.next(), await s.next(), await s.next(), await s.next()];
  t.is(answers[0]?.[0], TILE_STATUS.deflated, 'a bundle may come deflated, as over 1.1.0');
  t.is(answers[1]?.[0], TILE_STATUS.ok);
  t.deepEqual(new Uint8Array(answers[1]!.subarray(1)), new Uint8Array(fixture.store.checkpoint()!.note));
  t.deepEqual(new Uint8Array(answers[2]!), Uint8Array.of(TILE_STATUS.badRequest));
  t.deepEqual(new Uint8Array(answers[3]!), Uint8Array.of(TILE_STATUS.notFound));
  t.deepEqual(
    new Uint8Array(answers[4]!.subarray(1)),
    new Uint8Array((await fixture.store.readTile(tile0))!),
  );
  // The client ends its side between requests: the server ends its own, the stream closes.
  await s.stream.close();
  t.is(await s.next(), undefined);
});

test(`a client that pipelines far past ${TILE_SESSION_DEPTH} requests gets every answer, in order`, async (t) => {
  const { b, addr } = await served(t);
  const s = await rawSession(b, addr);
  const n = 3 * TILE_SESSION_DEPTH;
  // Hash tile 0, 1, then "not found" for 2 (partial only), in turn: the order shows in the statuses.
  const paths = Array.from({ length: n }, (_, i) => `${logId}/tile/0/00${i % 3}`);
  s.send(...paths);
  for (let i = 0; i < n; i++) {
    const answer = await s.next();
    t.is(answer?.[0], i % 3 === 2 ? TILE_STATUS.notFound : TILE_STATUS.ok, `answer ${i}`);
  }
  await s.stream.close();
  t.is(await s.next(), undefined);
});

test('a request over the cap ends the session: the answers owed, then status 2, then the end', async (t) => {
  const { a, b, addr } = await served(t);
  const s = await rawSession(b, addr);
  s.send(`${logId}/checkpoint`, `${logId}/${'x'.repeat(1000)}`, `${logId}/checkpoint`);
  t.is((await s.next())?.[0], TILE_STATUS.ok);
  t.deepEqual(new Uint8Array((await s.next())!), Uint8Array.of(TILE_STATUS.badRequest));
  t.is(await s.next(), undefined, 'nothing after it: the stream was out of step');
  await s.stream.close();
  await waitFor('the session gone from the server', () => tileStreams(a).length === 0);
});

test('the server ends a session silent for sessionIdleMs, and cuts one whose first request never comes', async (t) => {
  const { a, b, addr } = await served(t, { sessionIdleMs: 300, requestTimeoutMs: 300 });
  const s = await rawSession(b, addr);
  // Timed from before the request: the server's idle time starts once its answer is written, later.
  const started = performance.now();
  s.send(`${logId}/checkpoint`);
  t.is((await s.next())?.[0], TILE_STATUS.ok);
  t.is(await s.next(), undefined, 'ended cleanly, between answers');
  t.true(performance.now() - started >= 290, 'not before the idle time');
  await s.stream.close();

  const silent = await b.dialProtocol(addr, TILES_PROTOCOL_SESSION);
  const closed = new Promise((resolve) => silent.addEventListener('close', resolve, { once: true }));
  await closed;
  t.not(silent.status, 'open');
  await waitFor('no session left on the server', () => tileStreams(a).length === 0);
});

test("a caller's abort drops its request, not the session: the answer is read and dropped, not given to the next", async (t) => {
  const { b, addr } = await served(t);
  const source = new Libp2pTileSource({ dialer: b }, { peer: addr });
  t.truthy(await source.checkpoint(logId)); // the session is open
  const controller = new AbortController();
  const dropped = source.tiles(logId, [bundle(0)], { signal: controller.signal });
  controller.abort(new Error('caller gave up'));
  await t.throwsAsync(dropped, { message: 'caller gave up' });
  const [tile] = await source.tiles(logId, [tile0]);
  t.deepEqual(new Uint8Array(tile!), new Uint8Array((await fixture.store.readTile(tile0))!));
  t.is(tileStreams(b).length, 1, 'still the one session');
});

test('a rogue session: an answer over its cap is oversized, a late turn times out, an end with answers owed is unavailable', async (t) => {
  const addr = await rogueSession(t, (path) => {
    const kind = path.split('/')[0];
    if (kind === 'big') return new Uint8Array(2 + 256 * 32); // a hash tile's body is at most 256 * 32
    if (kind?.startsWith('late')) return 'silent';
    if (kind === 'end') return 'end';
    return Uint8Array.of(TILE_STATUS.notFound);
  });
  const b = await startTestNode(t);
  const source = new Libp2pTileSource({ dialer: b }, { peer: addr, timeoutMs: 500 });
  t.deepEqual(await source.tiles('fine', [tile0]), [undefined]);

  const big = await t.throwsAsync(source.tiles('big', [tile0]), { instanceOf: TileSourceError });
  t.is(big?.reason, 'oversized');

  // A late answer fails the request it is for, and the one queued behind it, as timeouts.
  const started = performance.now();
  const [late, behind] = await Promise.allSettled([source.checkpoint('late'), source.checkpoint('later')]);
  t.true(performance.now() - started >= 450);
  for (const r of [late, behind]) {
    t.is(r.status, 'rejected');
    t.is(((r as PromiseRejectedResult).reason as TileSourceError).reason, 'timeout');
  }

  const ended = await t.throwsAsync(source.checkpoint('end'), { instanceOf: TileSourceError });
  t.is(ended?.reason, 'unavailable');
  // Each failure cost the session, never the source: the next request opens a new one.
  t.is(await source.checkpoint('fine'), undefined);
});

test("docs/PROTOCOL.md's example session: two malformed names, answered 2 each, then the end", async (t) => {
  const { b, addr } = await served(t);
  const stream = await b.dialProtocol(addr, TILES_PROTOCOL_SESSION);
  const bytes = byteStream(stream);
  const hex = (h: string) => Uint8Array.from(Buffer.from(h.replaceAll(' ', ''), 'hex'));
  stream.send(hex('0a 6c6f672f74696c652f30'));
  stream.send(hex('03 6e6f74'));
  const signal = AbortSignal.timeout(10_000);
  t.deepEqual(new Uint8Array((await bytes.read({ bytes: 4, signal })).subarray()), hex('01 02 01 02'));
  await stream.close({ signal });
  t.is(await readFramed(bytes, 16, { signal }), undefined, 'the server closed its side');
});
