import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { BinaryCacheError } from '../node/errors.ts';
import { openBinaryCache, parseCacheInfo, parseHashPartList } from '../node/upstream/binary-cache.ts';
import { MAX_NARINFO_BYTES } from '../protocol/constants.ts';
import { MalformedError, TooLargeError } from '../protocol/errors.ts';
import { serveCache } from './helpers/cache-server.ts';
import { fixture, NIX_FIXTURES, VECTORS } from './helpers/nix-fixtures.ts';

const CACHE_DIR = join(NIX_FIXTURES, 'binary-cache-xz');
const HASH_PARTS = VECTORS.vectors.map((v) => v.hashPart).sort();
// Short timeouts only where a test is about timing out; elsewhere generous, so a loaded CI machine
// (the whole suite runs in parallel) does not turn a slow answer into a false failure.
const FAST = { timeoutMs: 300, retries: 0, backoffMs: 1 };
const PATIENT = { timeoutMs: 10_000, retries: 0, backoffMs: 1 };

test('http: nix-cache-info, the HTML index and a narinfo are read from a python-style server', async (t) => {
  const server = await serveCache(CACHE_DIR);
  t.teardown(() => server.close());
  const cache = openBinaryCache(server.url.slice(0, -1));
  t.is(cache.url, server.url);
  t.deepEqual(await cache.info(), { storeDir: '/nix/store' });
  t.deepEqual(await cache.list(), HASH_PARTS);
  const v = VECTORS.vectors[0]!;
  t.deepEqual(await cache.narinfo(v.hashPart), fixture(v.narinfoXz));
  t.is(await cache.narinfo('00000000000000000000000000000000'), undefined);
});

test('http: the JSON (nginx autoindex) index gives the same listing', async (t) => {
  const server = await serveCache(CACHE_DIR, { index: 'json' });
  t.teardown(() => server.close());
  t.deepEqual(await openBinaryCache(server.url).list(), HASH_PARTS);
});

test('http: only links to <hash32>.narinfo in the cache directory itself are listed', async (t) => {
  const h = HASH_PARTS[0]!;
  const page = [
    `<a href="${h}.narinfo">ok</a>`,
    `<a href='./${HASH_PARTS[1]}.narinfo'>ok, relative</a>`,
    `<a href=/cache/${HASH_PARTS[2]}.narinfo>ok, absolute unquoted</a>`,
    '<a href="../00000000000000000000000000000000.narinfo">parent dir</a>',
    '<a href="sub/11111111111111111111111111111111.narinfo">sub dir</a>',
    '<a href="http://elsewhere.invalid/cache/22222222222222222222222222222222.narinfo">other host</a>',
    '<a href="eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo">e is not nix32</a>',
    '<a href="3333333333333333333333333333333.narinfo">31 chars</a>',
    '<a href="44444444444444444444444444444444.narinfo?x=1">query</a>',
    '<a href="55555555555555555555555555555555.narinfo.xz">other suffix</a>',
    '<a href="nix-cache-info">info</a>',
  ].join('\n');
  const server = await serveCache(CACHE_DIR, {
    override: (req, res) => {
      if (req.url !== '/cache/') return false;
      res.writeHead(200, { 'content-type': 'text/html' }).end(page);
      return true;
    },
  });
  t.teardown(() => server.close());
  t.deepEqual(await openBinaryCache(`${server.url}cache`).list(), HASH_PARTS.slice(0, 3));
});

test('http: a cache without a directory index says to use --paths', async (t) => {
  const server = await serveCache(CACHE_DIR, { index: 'none' });
  t.teardown(() => server.close());
  const err = await t.throwsAsync(openBinaryCache(server.url).list(), { instanceOf: BinaryCacheError });
  t.regex(err!.message, /--paths/);
});

test('http: a missing nix-cache-info means not a binary cache', async (t) => {
  const server = await serveCache(join(NIX_FIXTURES, 'nar'));
  t.teardown(() => server.close());
  await t.throwsAsync(openBinaryCache(server.url, PATIENT).info(), {
    instanceOf: BinaryCacheError,
    message: /not a binary cache/,
  });
});

test('http: an endless narinfo body is cut at the cap, with or without Content-Length', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const server = await serveCache(CACHE_DIR, {
    override: (req, res) => {
      if (req.url === `/${HASH_PARTS[0]}.narinfo`) {
        res.writeHead(200, { 'content-length': String(MAX_NARINFO_BYTES * 100) });
        res.end();
        return true;
      }
      if (req.url !== `/${HASH_PARTS[1]}.narinfo`) return false;
      res.writeHead(200);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return true;
    },
  });
  t.teardown(() => server.close());
  const cache = openBinaryCache(server.url, { ...FAST, timeoutMs: 5000 });
  await t.throwsAsync(cache.narinfo(HASH_PARTS[0]!), { instanceOf: TooLargeError });
  const err = await t.throwsAsync(cache.narinfo(HASH_PARTS[1]!), { instanceOf: TooLargeError });
  t.true((err as TooLargeError).size <= MAX_NARINFO_BYTES + chunk.length);
});

test('http: a server that never answers fails within the timeout, after the retries', async (t) => {
  const server = await serveCache(CACHE_DIR, { override: () => true });
  t.teardown(() => server.close());
  const started = Date.now();
  const err = await t.throwsAsync(openBinaryCache(server.url, { ...FAST, retries: 1 }).info(), {
    instanceOf: BinaryCacheError,
  });
  t.regex(err!.message, /within 300 ms/);
  t.true(Date.now() - started < 5000); // bounded (the default would be minutes), with room for a loaded machine
  t.is(server.requests.length, 2);
});

test('http: a server that stalls mid-body fails within the timeout', async (t) => {
  const server = await serveCache(CACHE_DIR, {
    override: (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.write('<html><a href="');
      return true;
    },
  });
  t.teardown(() => server.close());
  await t.throwsAsync(openBinaryCache(server.url, FAST).list(), { instanceOf: BinaryCacheError });
});

test('http: 5xx is retried with backoff, 403 is not', async (t) => {
  let failures = 2;
  const server = await serveCache(CACHE_DIR, {
    override: (req, res) => {
      const status =
        req.url === '/nix-cache-info' && failures-- > 0
          ? 503
          : req.url === `/${HASH_PARTS[0]}.narinfo`
            ? 403
            : undefined;
      if (status === undefined) return false;
      res.writeHead(status).end();
      return true;
    },
  });
  t.teardown(() => server.close());
  const cache = openBinaryCache(server.url, { ...PATIENT, retries: 3 });
  t.deepEqual(await cache.info(), { storeDir: '/nix/store' });
  await t.throwsAsync(cache.narinfo(HASH_PARTS[0]!), { instanceOf: BinaryCacheError, message: /403/ });
  t.is(server.requests.filter((p) => p === `/${HASH_PARTS[0]}.narinfo`).length, 1);
});

test('http: an unreachable cache is a BinaryCacheError', async (t) => {
  const server = await serveCache(CACHE_DIR);
  const url = server.url;
  await server.close();
  await t.throwsAsync(openBinaryCache(url, PATIENT).info(), { instanceOf: BinaryCacheError });
});

test('file: nix-cache-info, listing and narinfos; an oversize narinfo is refused unread', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'trustix-bc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(CACHE_DIR, dir, { recursive: true });
  const big = '0'.repeat(32);
  await writeFile(join(dir, `${big}.narinfo`), Buffer.alloc(MAX_NARINFO_BYTES + 1, 'a'));
  await writeFile(join(dir, 'not-a-hash.narinfo'), 'x');
  const cache = openBinaryCache(pathToFileURL(dir).href);
  t.deepEqual(await cache.info(), { storeDir: '/nix/store' });
  t.deepEqual(await cache.list(), [big, ...HASH_PARTS].sort());
  const v = VECTORS.vectors[2]!;
  t.deepEqual(await cache.narinfo(v.hashPart), fixture(v.narinfoXz));
  t.is(await cache.narinfo('11111111111111111111111111111111'), undefined);
  await t.throwsAsync(cache.narinfo(big), { instanceOf: TooLargeError });
  await t.throwsAsync(cache.narinfo('../../etc/passwd'), { instanceOf: MalformedError });
});

test('file: a directory without nix-cache-info is not a binary cache', async (t) => {
  const cache = openBinaryCache(pathToFileURL(join(NIX_FIXTURES, 'keys')).href);
  await t.throwsAsync(cache.info(), { instanceOf: BinaryCacheError, message: /not a binary cache/ });
});

test('unsupported schemes and URLs with credentials or queries are refused', (t) => {
  t.throws(() => openBinaryCache('s3://bucket'), { instanceOf: MalformedError });
  t.throws(() => openBinaryCache('http://u:p@127.0.0.1/'), { instanceOf: MalformedError });
  t.throws(() => openBinaryCache('http://127.0.0.1/?x=1'), { instanceOf: MalformedError });
  t.throws(() => openBinaryCache('not a url'), { instanceOf: MalformedError });
});

test('nix-cache-info: StoreDir, WantMassQuery and Priority are read, a bad StoreDir refused', (t) => {
  t.deepEqual(parseCacheInfo('StoreDir: /gnu/store\nWantMassQuery: 1\nPriority: 40\nOther: x\n'), {
    storeDir: '/gnu/store',
    wantMassQuery: true,
    priority: 40,
  });
  t.deepEqual(parseCacheInfo(''), { storeDir: '/nix/store' });
  t.throws(() => parseCacheInfo('StoreDir: relative\n'), { instanceOf: MalformedError });
  t.throws(() => parseCacheInfo('garbage\n'), { instanceOf: MalformedError });
});

test('paths list: store paths and hash parts, comments and blanks; a bad line names its number', (t) => {
  const [a, b] = VECTORS.vectors;
  const text = `# closure\n${a!.storePath}\n\n  ${b!.hashPart}  \n${a!.hashPart}\n`;
  t.deepEqual(parseHashPartList(text), [a!.hashPart, b!.hashPart].sort());
  t.throws(() => parseHashPartList(`${a!.storePath}\n/gnu/store/${b!.hashPart}-x\n`), {
    instanceOf: MalformedError,
    message: /line 2/,
  });
  t.throws(() => parseHashPartList('hello\n'), { instanceOf: MalformedError, message: /line 1/ });
});
