/**
 * Hostile upstream caches against the substituter (docs/SECURITY.md "Upstream NAR transfers"): HTTP
 * servers on 127.0.0.1 and file caches in temp dirs, made from the real-Nix fixtures and then damaged.
 * The user votes `threshold 1/1` over one honest log, so every path's fingerprint is decided.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import test from 'ava';
import { parseDeciderSpec } from '../../node/vote/decider.ts';
import { parseNarinfo } from '../../protocol/narinfo.ts';
import { serveCache } from '../helpers/cache-server.ts';
import { tempDir } from '../helpers/log-fixture.ts';
import { NIX_FIXTURES, VECTORS } from '../helpers/nix-fixtures.ts';
import { openVoteFixture, type VoteFixtureOptions } from '../helpers/vote-fixture.ts';

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
