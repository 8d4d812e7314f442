// The HTTP server's log routes, checked as an outside verifier would over real HTTP on 127.0.0.1, and the
// server's limits: bad paths, methods, sizes, slow clients, internal errors, connection caps.
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import test from 'ava';
import { StoppedError } from '../node/errors.ts';
import type { HttpServerInit } from '../node/http/http-server-init.ts';
import { HttpServer } from '../node/http/server.ts';
import { LogRoutes } from '../node/routes/logs.ts';
import type { LogDirectory, LogReader } from '../node/store/log-reader.ts';
import { openCheckpoint } from '../protocol/checkpoint.ts';
import { decodeEntryBundle } from '../protocol/entry-bundle.ts';
import { VerificationError } from '../protocol/errors.ts';
import { proveInclusion, verifyInclusion } from '../protocol/inclusion-proof.ts';
import { generateNixSecretKey, type LogKey, logKeyOf } from '../protocol/keys.ts';
import { leafHash } from '../protocol/merkle.ts';
import { type TileReader, tileHashReader } from '../protocol/tile-hash-reader.ts';
import { formatTilePath, type HashTile, type TileId } from '../protocol/tile-path.ts';
import { memoryLog } from './helpers/log-fixture.ts';

const utf8 = new TextEncoder();
const SIZE = 600; // two full level-0 tiles and a partial one of 88; a partial level-1 tile of 2
const HEADERS_TIMEOUT_MS = 300;

/** A log of `size` made-up entries, in memory (memoryLog). */
function buildLog(name: string, size: number): { reader: LogReader; entries: Uint8Array[]; key: LogKey } {
  const entries = Array.from({ length: size }, (_, i) =>
    utf8.encode(`1;/nix/store/${String(i).padStart(32, 'a')}-pkg-${i};sha256:${'0'.repeat(52)};${i};`),
  );
  const { reader, key } = memoryLog(name, entries);
  return { reader, entries, key };
}

const log = buildLog('test-log', SIZE);
const emptyKey = logKeyOf(generateNixSecretKey('empty-log'));
const brokenKey = logKeyOf(generateNixSecretKey('broken-log'));
const stoppingKey = logKeyOf(generateNixSecretKey('stopping-log'));
const readers: LogReader[] = [
  log.reader,
  { logId: emptyKey.logId, key: emptyKey, checkpoint: () => undefined, readTile: async () => undefined },
  {
    logId: brokenKey.logId,
    key: brokenKey,
    checkpoint: () => undefined,
    readTile: async () => {
      throw new Error('secret detail: /var/lib/trustix/db is on fire');
    },
  },
  {
    logId: stoppingKey.logId,
    key: stoppingKey,
    checkpoint: () => undefined,
    readTile: async () => {
      throw new StoppedError('the store is closing');
    },
  },
];
const directory: LogDirectory = {
  get: (logId) => readers.find((r) => r.logId === logId),
  list: () => readers,
};

async function startServer(init: HttpServerInit = {}): Promise<{ server: HttpServer; base: string }> {
  const server = new HttpServer({}, init);
  server.register(new LogRoutes({ logs: directory }));
  await server.start();
  const { host, port } = server.address();
  return { server, base: `http://${host}:${port}` };
}

let server: HttpServer;
let base: string;
const prefix = `/logs/${log.key.logId}`;

test.before(async () => {
  ({ server, base } = await startServer());
});
test.after.always(async () => {
  await server.stop();
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request with the path sent exactly as given (fetch would normalise `..` and `//` away). */
function raw(method: string, path: string, headers: OutgoingHttpHeaders = {}): Promise<RawResponse> {
  const { port } = server.address();
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function stillServes(t: { is: (a: unknown, b: unknown) => void }): Promise<void> {
  const res = await fetch(`${base}${prefix}/checkpoint`);
  t.is(res.status, 200);
  await res.arrayBuffer();
}

// ---------------------------------------------------------------- the verifier's view

test('an outside verifier checks the checkpoint, proves inclusion from tiles and reads the entries', async (t) => {
  const res = await fetch(`${base}${prefix}/checkpoint`);
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.is(res.headers.get('cache-control'), 'no-cache');
  const note = new Uint8Array(await res.arrayBuffer());
  const checkpoint = openCheckpoint(note, log.key.verifier);
  t.deepEqual(note, log.reader.checkpoint()!.note, 'the note bytes travel unchanged');
  t.is(checkpoint.size, SIZE);

  const fetched: string[] = [];
  const tiles: TileReader = {
    readTiles: (wanted: readonly HashTile[]) =>
      Promise.all(
        wanted.map(async (tile) => {
          const path = formatTilePath(tile);
          fetched.push(path);
          const r = await fetch(`${base}${prefix}/${path}`);
          if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status}`);
          return new Uint8Array(await r.arrayBuffer());
        }),
      ),
  };
  const hashes = tileHashReader(checkpoint.size, checkpoint.root, tiles);
  for (const index of [0, 255, 256, 511, 512, SIZE - 1]) {
    const bundleTile: TileId = { kind: 'entries', index: Math.floor(index / 256), width: 256 };
    if (bundleTile.index === 2) (bundleTile as { width: number }).width = SIZE % 256;
    const r = await fetch(`${base}${prefix}/${formatTilePath(bundleTile)}`);
    t.is(r.status, 200);
    const entries = decodeEntryBundle(new Uint8Array(await r.arrayBuffer()), bundleTile.width);
    const entry = entries[index % 256]!;
    t.deepEqual(entry, log.entries[index]);
    const proof = await proveInclusion(checkpoint.size, index, hashes);
    t.notThrows(() => verifyInclusion(index, checkpoint.size, leafHash(entry), proof, checkpoint.root));
    // The same proof does not verify another entry: the check can fail.
    t.throws(
      () =>
        verifyInclusion(
          index,
          checkpoint.size,
          leafHash(log.entries[(index + 1) % SIZE]!),
          proof,
          checkpoint.root,
        ),
      {
        instanceOf: VerificationError,
      },
    );
  }
  t.true(fetched.includes('tile/0/001'), 'full level-0 tiles were fetched');
  t.true(fetched.includes('tile/1/000.p/2'), 'the partial level-1 edge was fetched');
});

test('full tiles are immutable, partial tiles cache briefly, both as octet-stream', async (t) => {
  const full = await fetch(`${base}${prefix}/tile/0/001`);
  t.is(full.status, 200);
  t.is(full.headers.get('content-type'), 'application/octet-stream');
  t.is(full.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  t.is((await full.arrayBuffer()).byteLength, 256 * 32);
  const partial = await fetch(`${base}${prefix}/tile/0/002.p/88`);
  t.is(partial.status, 200);
  t.is(partial.headers.get('cache-control'), 'public, max-age=60');
  t.is((await partial.arrayBuffer()).byteLength, 88 * 32);
  const bundle = await fetch(`${base}${prefix}/tile/entries/000`);
  t.is(bundle.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  t.is(bundle.headers.get('x-content-type-options'), 'nosniff');
});

test('HEAD answers the headers of GET with no body', async (t) => {
  for (const path of [`${prefix}/checkpoint`, `${prefix}/tile/0/000`, `${prefix}/tile/entries/002.p/88`]) {
    const get = await raw('GET', path);
    const head = await raw('HEAD', path);
    t.is(head.status, 200);
    t.is(head.body.length, 0);
    t.is(head.headers['content-length'], String(get.body.length));
    t.is(head.headers['cache-control'], get.headers['cache-control']);
  }
  const missing = await raw('HEAD', `${prefix}/tile/0/009`);
  t.is(missing.status, 404);
  t.is(missing.body.length, 0);
});

test('one keep-alive connection serves many requests', async (t) => {
  const socket = connect(server.address().port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const n = 20;
  let text = '';
  socket.on('data', (c: Buffer) => {
    text += c.toString('latin1');
  });
  for (let i = 0; i < n; i++) socket.write(`GET ${prefix}/tile/0/000 HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  while ((text.match(/HTTP\/1\.1 200 OK/g) ?? []).length < n) await new Promise((r) => setTimeout(r, 5));
  t.is((text.match(/HTTP\/1\.1 200 OK/g) ?? []).length, n);
  t.false(socket.destroyed);
  socket.destroy();
});

// ---------------------------------------------------------------- not found

test('unknown log, log without checkpoint, missing tile, progress and unknown paths are 404', async (t) => {
  const unknown = `/logs/${'ab'.repeat(32)}`;
  const cases = [
    `${unknown}/checkpoint`,
    `${unknown}/tile/0/000`,
    `/logs/${emptyKey.logId}/checkpoint`,
    `/logs/${emptyKey.logId}/tile/0/000`,
    `${prefix}/tile/0/003`, // beyond the tree
    `${prefix}/tile/0/002.p/87`, // not at that width
    `${prefix}/tile/0/002`, // not full yet
    `${prefix}/tile/2/000.p/1`,
    `${prefix}/tile/entries/005`,
    `${prefix}/other`,
    `${prefix}/progress`, // a sync's progress is a tile exchange resource only
    `${prefix}/holders`, // so are its holders
    `${prefix}/checkpoint/x`,
    prefix,
    '/',
    '/nothing',
  ];
  for (const path of cases) {
    const res = await raw('GET', path);
    t.is(res.status, 404, path);
    t.is(res.headers['content-type'], 'text/plain; charset=utf-8', path);
  }
});

// ---------------------------------------------------------------- bad requests

test('malformed log IDs are 400', async (t) => {
  for (const id of ['ABAB'.repeat(16), 'ab'.repeat(31), `${'ab'.repeat(32)}0`, 'zz'.repeat(32), '-']) {
    const res = await raw('GET', `/logs/${id}/checkpoint`);
    t.is(res.status, 400, id);
    t.regex(res.body.toString(), /log ID/);
  }
  t.is((await raw('GET', '/logs//checkpoint')).status, 400);
  await stillServes(t);
});

test('bad tile paths are 400: leading zeros, widths 0 and 256, non-digits, non-canonical, traversal', async (t) => {
  const cases = [
    'tile/0/0000',
    'tile/00/000',
    'tile/0/05',
    'tile/0/x000/001',
    'tile/0/000.p/0',
    'tile/0/000.p/256',
    'tile/0/000.p/007',
    'tile/0/abc',
    'tile/-1/000',
    'tile/64/000',
    'tile/entries/000.p/',
    'tile/0/000/',
    'tile/0/../0/000',
    'tile/0/./000',
    'tile/0/%2e%2e/000',
    'tile/0/%2E%2e/000',
    'tile/0%2f000',
    'tile\\0\\000',
    'tile/0/..\\000',
    'tile/0/%30%30%30',
    'tile//0/000',
    'tile/0/000?x=1',
    'tile/0/000?',
    'tile/0/000#frag',
    'tile/0/\u00e9',
  ];
  for (const rest of cases) {
    const path = `${prefix}/${rest}`;
    const res = await raw('GET', path);
    t.is(res.status, 400, rest);
    t.true(res.body.length < 200, rest);
  }
  for (const path of [
    `/logs/${log.key.logId}/../${log.key.logId}/checkpoint`,
    `/logs//${log.key.logId}/checkpoint`,
  ]) {
    t.is((await raw('GET', path)).status, 400, path);
  }
  t.is((await raw('GET', `${prefix}/checkpoint?nocache=1`)).status, 400);
  await stillServes(t);
});

test('a request target that is not an absolute path is 400', async (t) => {
  t.is((await raw('GET', `http://127.0.0.1${prefix}/checkpoint`)).status, 400);
  t.is((await raw('OPTIONS', '*')).status, 400);
  await stillServes(t);
});

test('other methods are 405 with Allow', async (t) => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const res = await raw(method, `${prefix}/checkpoint`);
    t.is(res.status, 405, method);
    t.is(res.headers['allow'], 'GET, HEAD', method);
  }
  await stillServes(t);
});

test('a request with a body is 413 and its connection closed', async (t) => {
  const res = await raw('GET', `${prefix}/checkpoint`, { 'content-length': '5' });
  t.is(res.status, 413);
  t.is(res.headers['connection'], 'close');
  t.is((await raw('GET', `${prefix}/checkpoint`, { 'transfer-encoding': 'chunked' })).status, 413);
  await stillServes(t);
});

test('a huge URL is 414 and a huge header 431', async (t) => {
  t.is((await raw('GET', `${prefix}/tile/0/${'1'.repeat(3000)}`)).status, 414);
  t.is((await raw('GET', `${prefix}/checkpoint`, { 'x-big': 'a'.repeat(20_000) })).status, 431);
  t.is((await raw('GET', `/${'a'.repeat(20_000)}`)).status, 431);
  await stillServes(t);
});

test('an internal error is 500 with no detail leaked, and is logged not thrown', async (t) => {
  const res = await raw('GET', `/logs/${brokenKey.logId}/tile/0/000`);
  t.is(res.status, 500);
  t.is(res.body.toString(), 'internal error\n');
  await stillServes(t);
});

test('a part of the node that is stopping or not started is 503, with no detail', async (t) => {
  const res = await raw('GET', `/logs/${stoppingKey.logId}/tile/0/000`);
  t.is(res.status, 503);
  t.is(res.body.toString(), 'unavailable\n');
  await stillServes(t);
});

// ---------------------------------------------------------------- slow and many clients

test('a client that never finishes its headers is answered 408 and dropped within the timeout', async (t) => {
  // Its own server: a headers timeout this short would answer 408 to well-behaved requests on a loaded
  // machine, where the event loop can stall for longer than that between accept and read.
  const { server: strict } = await startServer({
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    requestTimeoutMs: 1000,
  });
  t.teardown(() => strict.stop());
  const socket = connect(strict.address().port, '127.0.0.1');
  const started = performance.now();
  socket.write(`GET ${prefix}/checkpoint HTTP/1.1\r\nHost: localhost\r\n`); // no blank line, ever
  let text = '';
  socket.on('data', (c: Buffer) => {
    text += c.toString('latin1');
  });
  await new Promise((resolve) => socket.once('close', resolve));
  const elapsed = performance.now() - started;
  t.regex(text, /^HTTP\/1\.1 408 /);
  t.true(elapsed >= HEADERS_TIMEOUT_MS * 0.9, `closed after ${elapsed} ms`);
  t.true(elapsed < 10_000, `closed after ${elapsed} ms (generous: the machine may be loaded)`);
  await stillServes(t);
});

test('connections over maxConnections are dropped, and served again once others close', async (t) => {
  const { server: small, base: smallBase } = await startServer({ maxConnections: 2 });
  const { port } = small.address();
  const open = async (): Promise<Socket> => {
    const s = connect(port, '127.0.0.1');
    await new Promise((resolve) => s.once('connect', resolve));
    return s;
  };
  try {
    const held = [await open(), await open()];
    await new Promise((r) => setTimeout(r, 20)); // the server has accepted both
    const third = await open();
    third.write(`GET ${prefix}/checkpoint HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    let got = '';
    third.on('data', (c: Buffer) => {
      got += c.toString('latin1');
    });
    await new Promise((resolve) => third.once('close', resolve));
    t.is(got, '', 'the third connection was closed unanswered');
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 20));
    const res = await fetch(`${smallBase}${prefix}/checkpoint`);
    t.is(res.status, 200);
    await res.arrayBuffer();
  } finally {
    await small.stop();
  }
});

test('an idle keep-alive connection is closed after keepAliveTimeoutMs', async (t) => {
  const { server: quick } = await startServer({ keepAliveTimeoutMs: 100 });
  try {
    const socket = connect(quick.address().port, '127.0.0.1');
    socket.write(`GET ${prefix}/checkpoint HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    const started = performance.now();
    await new Promise((resolve) => socket.once('close', resolve));
    const elapsed = performance.now() - started;
    t.regex(text, /^HTTP\/1\.1 200 OK\r\n/);
    t.regex(text, /keep-alive/i);
    // node:http adds a 1 s grace to the advertised keep-alive timeout.
    t.true(elapsed >= 90 && elapsed < 5000, `closed after ${elapsed} ms`);
  } finally {
    await quick.stop();
  }
});

test('the server reports its address and stops cleanly', async (t) => {
  const { server: other } = await startServer();
  const { host, port } = other.address();
  t.is(host, '127.0.0.1');
  t.true(port > 0);
  await other.stop();
  t.throws(() => other.address());
  await other.stop(); // idempotent
});
