/**
 * The substituter over real logs (LevelDB), real upstream caches (a file:// cache and one over HTTP on
 * 127.0.0.1, both made by real Nix: test/fixtures/nix) and a real HTTP server: what it serves, what it
 * refuses, how it re-signs, when it changes its mind, and how it degrades when upstreams misbehave.
 * Four builders as in the Trustix README: mercury, venus, saturn and mars; saturn lies about one path.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { parseDeciderSpec } from '../node/vote/decider.ts';
import { verifyingKey } from '../protocol/ed25519.ts';
import { formatEntry, parseEntry } from '../protocol/entry.ts';
import { parseNarinfo } from '../protocol/narinfo.ts';
import { narinfoFingerprint, narinfoSignedBy } from '../protocol/narinfo-signature.ts';
import { serveCache } from './helpers/cache-server.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { NIX_FIXTURES, VECTORS } from './helpers/nix-fixtures.ts';
import { openVoteFixture } from './helpers/vote-fixture.ts';

const [SYMLINK, EXE, WITHREF, FILE, DIR] = ['tv-symlink', 'tv-exe', 'tv-withref', 'tv-file', 'tv-dir'].map(
  (name) => VECTORS.vectors.find((v) => v.name === name)!,
) as [
  (typeof VECTORS.vectors)[number],
  (typeof VECTORS.vectors)[number],
  (typeof VECTORS.vectors)[number],
  (typeof VECTORS.vectors)[number],
  (typeof VECTORS.vectors)[number],
];
const XZ = pathToFileURL(join(NIX_FIXTURES, 'binary-cache-xz')).href;
const NONE_DIR = join(NIX_FIXTURES, 'binary-cache-none');

/** The fingerprint of `v` with another NAR hash: what a lying builder publishes. */
function tampered(fingerprint: string): string {
  const e = parseEntry(fingerprint);
  const narHash = Uint8Array.from(e.narHash);
  narHash[0] = narHash[0]! ^ 0xff;
  return formatEntry({ ...e, narHash });
}

const honest = [SYMLINK.fingerprint, EXE.fingerprint, WITHREF.fingerprint, FILE.fingerprint];
const SATURN_LIE = tampered(EXE.fingerprint);
/** mercury, venus and mars publish the honest four; saturn lies about tv-exe; only mars built tv-dir. */
const BUILDERS = [
  { name: 'mercury', entries: honest },
  { name: 'venus', entries: honest },
  { name: 'saturn', entries: [SYMLINK.fingerprint, SATURN_LIE, WITHREF.fingerprint, FILE.fingerprint] },
  { name: 'mars', entries: [...honest, DIR.fingerprint] },
];

async function get(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) };
}

/** The status of a request sent with its target verbatim (fetch would resolve dot segments first). */
function rawStatus(base: string, path: string): Promise<number> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

test('nix-cache-info names the store, mass query and priority', async (t) => {
  const f = await openVoteFixture({ logs: [], vote: [parseDeciderSpec('threshold 1/2')] });
  t.teardown(() => f.close());
  const res = await get(`${f.url}nix-cache-info`);
  t.is(res.status, 200);
  t.is(text(res.body), 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n');
});

test('threshold 3/4: honest paths are served re-signed by the cache key, with our NAR URL and the upstream NAR bytes', async (t) => {
  const f = await openVoteFixture({
    logs: BUILDERS,
    vote: [parseDeciderSpec('threshold 3/4')],
    upstreams: [XZ],
  });
  t.teardown(() => f.close());
  for (const v of [SYMLINK, WITHREF, FILE, EXE]) {
    const res = await get(`${f.url}${v.hashPart}.narinfo`);
    t.is(res.status, 200, v.name);
    t.is(res.headers.get('content-type'), 'text/x-nix-narinfo');
    const info = parseNarinfo(res.body);
    t.is(narinfoFingerprint(info), v.fingerprint, `${v.name}: the decided fingerprint`);
    t.is(info.sigs.length, 1, 'upstream signatures dropped, ours added');
    t.true(narinfoSignedBy(info, f.cacheKey.name, verifyingKey(f.cacheKey.publicKey)));
    t.regex(info.url, new RegExp(`^nar/${v.hashPart}/[0-9a-z]{52}-[0-9a-z]{52}\\.nar\\.xz$`));
    t.is(info.compression, 'xz');
    const nar = await get(`${f.url}${info.url}`);
    t.is(nar.status, 200);
    t.deepEqual(
      nar.body,
      new Uint8Array(await readFile(join(NIX_FIXTURES, 'binary-cache-xz', v.fileXz.url))),
    );
    t.is(nar.headers.get('content-length'), String(v.fileXz.fileSize));
  }
  // HEAD (nix copy --from uses it): same status and headers, no body.
  const head = await get(`${f.url}${FILE.hashPart}.narinfo`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(head.body.length, 0);
  t.true(Number(head.headers.get('content-length')) > 0);
});

test('no decision is a 404: one log of four, a tie, and an unknown path', async (t) => {
  const f = await openVoteFixture({
    logs: [
      { name: 'mercury', entries: [FILE.fingerprint, EXE.fingerprint] },
      { name: 'venus', entries: [FILE.fingerprint, tampered(EXE.fingerprint)] },
      { name: 'saturn', entries: [EXE.fingerprint] },
      { name: 'mars', entries: [DIR.fingerprint, tampered(EXE.fingerprint)] },
    ],
    vote: [parseDeciderSpec('threshold 1/2')],
    upstreams: [XZ],
  });
  t.teardown(() => f.close());
  t.is((await get(`${f.url}${DIR.hashPart}.narinfo`)).status, 404, 'one log of four is 25% of the weight');
  t.is((await get(`${f.url}${EXE.hashPart}.narinfo`)).status, 404, '2 against 2 is a tie');
  t.is((await get(`${f.url}${SYMLINK.hashPart}.narinfo`)).status, 404, 'no log has it');
  t.is((await get(`${f.url}${FILE.hashPart}.narinfo`)).status, 200, '2 of 4 agree, none against');
  const d = await f.decisions.decide(EXE.hashPart);
  t.is(d.fingerprint, undefined);
  t.true(
    d.reasons.some((r) => /tie/.test(r)),
    d.reasons.join('; '),
  );
});

test("saturn's lie: never served under 3/4; with `trust saturn` its narinfo is served from its own cache", async (t) => {
  // Saturn's cache: the real NAR, but a narinfo claiming its tampered NAR hash (what saturn published).
  const saturnCache = await tempDir('trustix-saturn-cache-');
  await cp(NONE_DIR, saturnCache, { recursive: true });
  const lie = parseEntry(SATURN_LIE);
  const original = parseNarinfo(await readFile(join(saturnCache, `${EXE.hashPart}.narinfo`)));
  const { formatNarinfo } = await import('../protocol/narinfo.ts');
  await writeFile(
    join(saturnCache, `${EXE.hashPart}.narinfo`),
    formatNarinfo({ ...original, narHash: lie.narHash, sigs: [] }),
  );
  const server = await serveCache(saturnCache);
  t.teardown(async () => {
    await server.close();
    await rm(saturnCache, { recursive: true, force: true });
  });

  // Saturn's cache is the only upstream: the honest value is decided, but nobody serves it.
  const f = await openVoteFixture({
    logs: BUILDERS,
    vote: [parseDeciderSpec('threshold 3/4')],
    upstreams: [server.url],
  });
  t.teardown(() => f.close());
  t.is(
    (await get(`${f.url}${EXE.hashPart}.narinfo`)).status,
    404,
    "saturn's narinfo does not match the vote",
  );
  t.is((await get(`${f.url}${FILE.hashPart}.narinfo`)).status, 200, 'its honest narinfos are used');
  const d = await f.decisions.decide(EXE.hashPart);
  t.is(d.fingerprint, EXE.fingerprint);
  t.deepEqual(d.agreeing, ['mars', 'mercury', 'venus']);
  t.deepEqual(d.mismatches, [{ log: 'saturn', fingerprint: SATURN_LIE }]);

  // Trusting saturn: its lie is what it says, and its narinfo matches it.
  const g = await openVoteFixture({
    logs: BUILDERS,
    vote: [parseDeciderSpec('trust saturn')],
    upstreams: [XZ, server.url],
  });
  t.teardown(() => g.close());
  const res = await get(`${g.url}${EXE.hashPart}.narinfo`);
  t.is(res.status, 200);
  t.is(narinfoFingerprint(parseNarinfo(res.body)), SATURN_LIE);
});

test('decisions follow the logs: a log that grows or is proven forked changes the answer', async (t) => {
  const f = await openVoteFixture({
    logs: [
      { name: 'mercury', entries: [FILE.fingerprint] },
      { name: 'venus', entries: [] },
      { name: 'mars', entries: [FILE.fingerprint] },
    ],
    vote: [parseDeciderSpec('threshold 3/3')],
    upstreams: [XZ],
  });
  t.teardown(() => f.close());
  const url = `${f.url}${FILE.hashPart}.narinfo`;
  t.is((await get(url)).status, 404, '2 of 3');
  await f.logs.get('venus')!.append([FILE.fingerprint]);
  t.is((await get(url)).status, 200, 'venus grew: 3 of 3');
  const served = parseNarinfo((await get(url)).body);
  f.forked.add('mars');
  t.is((await get(url)).status, 404, 'mars is forked: it abstains');
  t.is((await get(`${f.url}${served.url}`)).status, 404, 'the NAR URL handed out before is withdrawn too');
  f.forked.delete('mars');
  t.is((await get(`${f.url}${served.url}`)).status, 200);
});

test('bad requests get clean 4xx answers', async (t) => {
  const f = await openVoteFixture({
    logs: BUILDERS,
    vote: [parseDeciderSpec('threshold 3/4')],
    upstreams: [XZ],
  });
  t.teardown(() => f.close());
  const status = async (path: string, init?: RequestInit) =>
    (await get(`${f.url.slice(0, -1)}${path}`, init)).status;
  t.is(await status('/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo'), 400, 'e is not a nix32 digit');
  t.is(await status('/abc.narinfo'), 400, 'short hash');
  t.is(await status(`/${FILE.hashPart}.narinfo?x=1`), 400, 'query');
  t.is(await status(`/${FILE.hashPart}.narinfo`, { method: 'POST' }), 405);
  t.is(await rawStatus(f.url, `/nar/${FILE.hashPart}/../../etc/passwd`), 400, 'dot segments');
  t.is(await status(`/nar/${FILE.hashPart}/%2e%2e/x`), 400, 'encoded dots');
  t.is(
    await status(`/nar/${FILE.hashPart}/0000000000000000000000000000000000000000000000000000.nar.xz`),
    404,
    'not the URL handed out',
  );
  t.is(await status('/nar/short'), 400);
  t.is(await status('/x/y.narinfo'), 404);
  const big = await fetch(`${f.url}nix-cache-info`, { headers: { 'x-big': 'a'.repeat(20_000) } }).then(
    (r) => r.status,
  );
  t.is(big, 431, 'oversized headers');
});

test('a slow client is cut off with 408 and does not hold the server', async (t) => {
  const f = await openVoteFixture({
    logs: BUILDERS,
    vote: [parseDeciderSpec('threshold 3/4')],
    upstreams: [XZ],
    http: { headersTimeoutMs: 300, requestTimeoutMs: 600 },
  });
  t.teardown(() => f.close());
  const { port } = new URL(f.url);
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () =>
      socket.write('GET /nix-cache-info HTTP/1.1\r\nHost: x\r\n'),
    );
    let data = '';
    socket.on('data', (d) => (data += d));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
  t.regex(answer, /^HTTP\/1\.1 408/);
  t.is((await get(`${f.url}${FILE.hashPart}.narinfo`)).status, 200);
});

test('upstreams that hang, fail, lie or point outside themselves degrade to 404 within the time limit', async (t) => {
  const served = await tempDir('trustix-bad-cache-');
  await cp(NONE_DIR, served, { recursive: true });
  // tv-file's narinfo points outside the cache; tv-symlink's NAR is missing; tv-withref hangs; tv-exe is huge.
  const outside = parseNarinfo(await readFile(join(served, `${FILE.hashPart}.narinfo`)));
  const { formatNarinfo } = await import('../protocol/narinfo.ts');
  await writeFile(
    join(served, `${FILE.hashPart}.narinfo`),
    formatNarinfo({ ...outside, url: '../../../etc/passwd' }),
  );
  await rm(join(served, SYMLINK.fileNone.url));
  const hanging = await serveCache(served, {
    override: (req, res) => {
      if (req.url?.includes(WITHREF.hashPart)) return true; // never answers
      if (req.url?.includes(EXE.hashPart)) {
        res.writeHead(200).end('x'.repeat(2 * 1024 * 1024));
        return true;
      }
      return false;
    },
  });
  t.teardown(async () => {
    await hanging.close();
    await rm(served, { recursive: true, force: true });
  });
  const f = await openVoteFixture({
    logs: BUILDERS.map((b) => ({ ...b, entries: honest })),
    vote: [parseDeciderSpec('threshold 3/4')],
    upstreams: [hanging.url],
    upstreamCaches: { narinfoTimeoutMs: 500, retries: 0 },
  });
  t.teardown(() => f.close());
  const started = Date.now();
  t.is((await get(`${f.url}${WITHREF.hashPart}.narinfo`)).status, 404, 'hanging upstream');
  t.true(Date.now() - started < 5_000, 'answered within the upstream time limit');
  t.is((await get(`${f.url}${EXE.hashPart}.narinfo`)).status, 404, 'oversized narinfo');
  const file = await get(`${f.url}${FILE.hashPart}.narinfo`);
  t.is(file.status, 200, 'the narinfo itself matches the vote');
  t.is((await get(`${f.url}${parseNarinfo(file.body).url}`)).status, 404, 'but its URL leaves the cache');
  const symlink = await get(`${f.url}${SYMLINK.hashPart}.narinfo`);
  t.is((await get(`${f.url}${parseNarinfo(symlink.body).url}`)).status, 404, 'NAR missing upstream');
});
