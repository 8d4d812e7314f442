/**
 * Hostile upstream caches against the substituter (docs/SECURITY.md "Upstream NAR transfers"): HTTP
 * servers on 127.0.0.1 and file caches in temp dirs, made from the real-Nix fixtures and then damaged.
 * The user votes `threshold 1/1` over one honest log, so every path's fingerprint is decided.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { get as httpGet, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { decompress } from '../../node/upstream/decompress.ts';
import { parseDeciderSpec } from '../../node/vote/decider.ts';
import { TooLargeError } from '../../protocol/errors.ts';
import { formatNarinfo, parseNarinfo } from '../../protocol/narinfo.ts';
import { serveCache } from '../helpers/cache-server.ts';
import { tempDir } from '../helpers/log-fixture.ts';
import { NIX_FIXTURES, VECTORS } from '../helpers/nix-fixtures.ts';
import { openVoteFixture, type VoteFixtureOptions } from '../helpers/vote-fixture.ts';

const run = promisify(execFile);
const vector = (name: string) => VECTORS.vectors.find((v) => v.name === name)!;
const FILE = vector('tv-file');
const DIR = vector('tv-dir');
const XZ_DIR = join(NIX_FIXTURES, 'binary-cache-xz');

function fixture(upstreams: string[], extra: Partial<VoteFixtureOptions> = {}) {
  return openVoteFixture({
    logs: [{ name: 'mercury', entries: VECTORS.vectors.map((v) => v.fingerprint) }],
    vote: [parseDeciderSpec('threshold 1/1')],
    upstreams,
    ...extra,
  });
}

interface Download {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly bytes: Buffer;
  /** False when the connection was cut before the response ended. */
  readonly complete: boolean;
}

/** GETs `url` and reports what arrived, also when the transfer is cut (status 0: cut before the headers). */
function download(url: string, headers: Record<string, string> = {}): Promise<Download> {
  return new Promise((resolve) => {
    const req = httpGet(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      let complete = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        complete = true;
      });
      res.on('close', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          bytes: Buffer.concat(chunks),
          complete: complete && !res.errored,
        }),
      );
      res.on('error', () => {});
    });
    req.on('error', () => resolve({ status: 0, headers: {}, bytes: Buffer.alloc(0), complete: false }));
  });
}

/** A copy of the xz fixture cache whose `v`'s NAR file has one byte flipped (its narinfo untouched). */
async function corruptedCache(v: typeof FILE): Promise<string> {
  const dir = await tempDir('trustix-corrupt-cache-');
  await cp(XZ_DIR, dir, { recursive: true });
  const file = join(dir, v.fileXz.url);
  const bytes = await readFile(file);
  bytes[bytes.length >> 1]! ^= 0x01;
  await writeFile(file, bytes);
  return dir;
}

test('a corrupted NAR from the first upstream is cut before its last byte; the retry gets the intact copy from the second', async (t) => {
  const badDir = await corruptedCache(FILE);
  let badNarRequested: () => void = () => {};
  const badChosen = new Promise<void>((resolve) => {
    badNarRequested = resolve;
  });
  const bad = await serveCache(badDir, {
    override: (req) => {
      if (req.url?.startsWith('/nar/')) badNarRequested();
      return false;
    },
  });
  // The intact upstream answers FILE's narinfo only once the substituter has chosen the bad one.
  const good = await serveCache(XZ_DIR, {
    override: (req, res) => {
      if (req.url !== `/${FILE.hashPart}.narinfo`) return false;
      badChosen.then(async () => res.end(await readFile(join(XZ_DIR, `${FILE.hashPart}.narinfo`))));
      return true;
    },
  });
  const f = await fixture([bad.url, good.url]);
  t.teardown(async () => {
    badNarRequested();
    await f.close();
    await Promise.all([bad.close(), good.close()]);
    await rm(badDir, { recursive: true, force: true });
  });

  const narinfo = parseNarinfo(await (await fetch(`${f.url}${FILE.hashPart}.narinfo`)).text());
  const first = await download(`${f.url}${narinfo.url}`);
  t.false(first.complete, 'the transfer is cut');
  t.true(first.bytes.length < FILE.fileXz.fileSize, `cut before its last byte (${first.bytes.length} bytes)`);
  t.true(f.upstreams.isBad(bad.url, FILE.hashPart), 'the corrupting upstream is skipped for this path');
  t.true(bad.requests.includes(`/${FILE.fileXz.url}`));

  // Nix retries the same URL (the file hash in it is the same on both upstreams).
  const second = await download(`${f.url}${narinfo.url}`);
  t.is(second.status, 200);
  t.true(second.complete);
  t.deepEqual(second.bytes, await readFile(join(XZ_DIR, FILE.fileXz.url)));
  t.true(good.requests.includes(`/${FILE.fileXz.url}`), 'served from the intact upstream');
  t.is(second.headers['accept-ranges'], 'bytes');
});

test('a cut transfer resumes with `Range: bytes=N-` (206), served from whichever upstream has the same file', async (t) => {
  const good = await serveCache(XZ_DIR);
  const f = await fixture([good.url]);
  t.teardown(async () => {
    await f.close();
    await good.close();
  });
  const narinfo = parseNarinfo(await (await fetch(`${f.url}${DIR.hashPart}.narinfo`)).text());
  const whole = await readFile(join(XZ_DIR, DIR.fileXz.url));
  const tail = await download(`${f.url}${narinfo.url}`, { range: 'bytes=100-' });
  t.is(tail.status, 206);
  t.is(tail.headers['content-range'], `bytes 100-${whole.length - 1}/${whole.length}`);
  t.true(tail.complete);
  t.deepEqual(tail.bytes, whole.subarray(100));
  const past = await download(`${f.url}${narinfo.url}`, { range: `bytes=${whole.length}-` });
  t.is(past.status, 416);
});

/** A copy of the xz fixture cache in a temp dir, removed when the test ends. */
async function cacheCopy(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await tempDir('trustix-hostile-cache-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(XZ_DIR, join(dir, 'cache'), { recursive: true });
  return dir;
}

test('a file:// cache cannot make the node stream another file: a symlinked NAR or NAR directory is refused', async (t) => {
  const dir = await cacheCopy(t);
  const cache = join(dir, 'cache');
  // What a writer of the cache directory can do: point a NAR file at a secret the node can read,
  // with a narinfo that still matches the vote (FileSize of the secret, no FileHash).
  const secret = Buffer.from('cache-key-1:SECRETSECRETSECRET\n');
  await writeFile(join(dir, 'cache.secret'), secret);
  for (const [v, link, target] of [
    [FILE, 'nar/stolen.nar.xz', join(dir, 'cache.secret')],
    [DIR, 'outside/stolen.nar.xz', join(dir, 'cache.secret')],
  ] as const) {
    const narinfo = parseNarinfo(await readFile(join(cache, `${v.hashPart}.narinfo`)));
    const { fileHash: _fileHash, ...rest } = narinfo;
    await writeFile(
      join(cache, `${v.hashPart}.narinfo`),
      formatNarinfo({ ...rest, url: link, fileSize: secret.length }),
    );
    if (link.startsWith('nar/')) await symlink(target, join(cache, link));
    else {
      // A directory inside the cache that is a symlink to a directory outside it.
      await mkdir(join(dir, 'elsewhere'));
      await symlink(target, join(dir, 'elsewhere', 'stolen.nar.xz'));
      await symlink(join(dir, 'elsewhere'), join(cache, 'outside'));
    }
  }
  const f = await fixture([pathToFileURL(cache).href]);
  t.teardown(() => f.close());
  for (const v of [FILE, DIR]) {
    const narinfo = parseNarinfo(await (await fetch(`${f.url}${v.hashPart}.narinfo`)).text());
    const nar = await download(`${f.url}${narinfo.url}`);
    t.false(nar.bytes.includes(Buffer.from('SECRET')), `${v.name}: the secret is not served`);
    t.is(nar.status, 404, v.name);
  }
});

test('a FIFO in a file:// cache does not hang the node: the narinfo is refused at once', async (t) => {
  t.timeout(20_000);
  const dir = await cacheCopy(t);
  const cache = join(dir, 'cache');
  await rm(join(cache, `${FILE.hashPart}.narinfo`));
  await run('mkfifo', [join(cache, `${FILE.hashPart}.narinfo`)]);
  // Long enough that a blocked open() would outlive the test's own time limit.
  const f = await fixture([pathToFileURL(cache).href], { upstreamCaches: { narinfoTimeoutMs: 60_000 } });
  t.teardown(() => f.close());
  t.is((await fetch(`${f.url}${FILE.hashPart}.narinfo`)).status, 404);
  t.is((await fetch(`${f.url}${DIR.hashPart}.narinfo`)).status, 200, 'the other paths are served');
});

test('a slowloris upstream is cut at the minimum rate and skipped for the path', async (t) => {
  t.timeout(20_000);
  const whole = await readFile(join(XZ_DIR, DIR.fileXz.url));
  let trickle: NodeJS.Timeout | undefined;
  const slow = await serveCache(XZ_DIR, {
    override: (req, res) => {
      if (req.url !== `/${DIR.fileXz.url}`) return false;
      res.writeHead(200, { 'content-length': whole.length });
      let sent = 0;
      trickle = setInterval(() => res.write(whole.subarray(sent, ++sent)), 20);
      res.on('close', () => clearInterval(trickle));
      return true;
    },
  });
  const f = await fixture([slow.url], {
    upstreamCaches: { narMinBytesPerSecond: 1000, narRateWindowMs: 200 },
  });
  t.teardown(async () => {
    clearInterval(trickle);
    await f.close();
    await slow.close();
  });
  const narinfo = parseNarinfo(await (await fetch(`${f.url}${DIR.hashPart}.narinfo`)).text());
  const nar = await download(`${f.url}${narinfo.url}`);
  t.false(nar.complete, 'the transfer is cut');
  t.true(f.upstreams.isBad(slow.url, DIR.hashPart));
});

test('redirects: to another origin refused, within the origin followed', async (t) => {
  const other = await serveCache(XZ_DIR);
  const redirecting = await serveCache(XZ_DIR, {
    override: (req, res) => {
      if (req.url === `/${FILE.hashPart}.narinfo`) {
        // Elsewhere: another origin (here another port on loopback, as a metadata service would be).
        res.writeHead(302, { location: `${other.url}${FILE.hashPart}.narinfo` }).end();
        return true;
      }
      if (req.url === `/${DIR.hashPart}.narinfo`) {
        res.writeHead(301, { location: `/moved/${DIR.hashPart}.narinfo` }).end();
        return true;
      }
      if (req.url === `/moved/${DIR.hashPart}.narinfo`) {
        readFile(join(XZ_DIR, `${DIR.hashPart}.narinfo`)).then((b) => res.end(b));
        return true;
      }
      return false;
    },
  });
  const f = await fixture([redirecting.url]);
  t.teardown(async () => {
    await f.close();
    await Promise.all([other.close(), redirecting.close()]);
  });
  t.is((await fetch(`${f.url}${FILE.hashPart}.narinfo`)).status, 404, 'cross-origin redirect refused');
  t.deepEqual(other.requests, [], 'the other origin was never asked');
  t.is((await fetch(`${f.url}${DIR.hashPart}.narinfo`)).status, 200, 'same-origin redirect followed');
});

test('narinfos: a compressed NAR without FileSize is not used; fields outside the fingerprint are not re-signed', async (t) => {
  const dir = await cacheCopy(t);
  const cache = join(dir, 'cache');
  const edit = async (v: typeof FILE, change: (n: ReturnType<typeof parseNarinfo>) => object) => {
    const path = join(cache, `${v.hashPart}.narinfo`);
    await writeFile(
      path,
      formatNarinfo({ ...parseNarinfo(await readFile(path)), ...change(parseNarinfo(await readFile(path))) }),
    );
  };
  await edit(FILE, () => ({ fileSize: undefined }));
  await edit(DIR, () => ({
    deriver: 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-evil.drv',
    system: 'evil-os',
    ca: 'fixed:r:sha256:1b1w3qfxaqdsab2cnh6j3aayr7acvy6vk9a9rgiys7ihgn3q6yzr',
    extra: [{ key: 'X-Injected', value: 'yes' }],
  }));
  const f = await fixture([pathToFileURL(cache).href]);
  t.teardown(() => f.close());
  t.is((await fetch(`${f.url}${FILE.hashPart}.narinfo`)).status, 404, 'no FileSize: no upper bound');
  const served = await (await fetch(`${f.url}${DIR.hashPart}.narinfo`)).text();
  t.deepEqual(
    served
      .trim()
      .split('\n')
      .map((l) => l.slice(0, l.indexOf(':'))),
    ['StorePath', 'URL', 'Compression', 'FileHash', 'FileSize', 'NarHash', 'NarSize', 'References', 'Sig'],
  );
});

test('a decompression bomb stops at the NAR size the log published', async (t) => {
  const bomb = (await run('sh', ['-c', 'head -c 10000000 /dev/zero | xz -c | base64 -w0'])).stdout;
  const out = decompress(Readable.from([Buffer.from(bomb, 'base64')]), 'xz', { maxBytes: 100_000 });
  await t.throwsAsync(
    (async () => {
      for await (const _ of out);
    })(),
    { instanceOf: TooLargeError },
  );
});
