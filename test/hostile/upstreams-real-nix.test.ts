/**
 * Issue 14 item 2 with the real Nix client: two upstreams, the first with right narinfos but corrupted
 * NAR files, the second intact. The substituter cuts each bad transfer before its last byte and serves
 * the intact copy when Nix retries, within the same `nix-store -r`:
 * - a small NAR (checked whole before its first byte goes out): Nix received nothing and retries;
 * - a 2 MiB NAR corrupted in its last 64 KiB (inside the held-back window): Nix received the first
 *   part, and resumes with `Range: bytes=N-`, served from the intact upstream.
 * Every run substitutes, the first and the following ones.
 */
import { type ExecFileException, execFile } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseDeciderSpec } from '../../node/vote/decider.ts';
import { formatNixPublicKey } from '../../protocol/keys.ts';
import { parseNarinfo } from '../../protocol/narinfo.ts';
import { parseStorePath } from '../../protocol/store-path.ts';
import { serveCache } from '../helpers/cache-server.ts';
import { nixFingerprint, nixTest, realNix } from '../helpers/real-nix.ts';
import { openVoteFixture } from '../helpers/vote-fixture.ts';

const run = promisify(execFile);

nixTest('a corrupted first upstream and an intact second one: real Nix substitutes every time', async (t) => {
  const nix = await realNix();
  t.teardown(() => nix.cleanup());
  const s = nix.salt;
  const file = await nix.writeNix(
    'corrupt',
    `let mk = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" script]; }; in {
      small = mk "hostile-small" "echo ${s} > $out";
      large = mk "hostile-large" "echo ${s} > $out; /usr/bin/head -c 2097152 /dev/urandom >> $out";
    }`,
  );
  const [small] = await nix.build(file, 'small');
  const [large] = await nix.build(file, 'large');
  const paths = [small!, large!];
  const goodDir = join(nix.dir, 'good-cache');
  await nix.nix('nix', ['copy', '--to', `file://${goodDir}`, ...paths]);
  const badDir = join(nix.dir, 'bad-cache');
  await cp(goodDir, badDir, { recursive: true });
  const narUrl = new Map<string, string>();
  for (const [path, at] of [
    [small!, (n: number) => n >> 1],
    [large!, (n: number) => n - 1000],
  ] as const) {
    const hashPart = parseStorePath(path).hashPart;
    const { url } = parseNarinfo(await readFile(join(goodDir, `${hashPart}.narinfo`)));
    narUrl.set(hashPart, url);
    const bytes = await readFile(join(badDir, url));
    bytes[at(bytes.length)]! ^= 0x01;
    await writeFile(join(badDir, url), bytes);
  }

  // The intact upstream answers a narinfo only once the bad one's NAR was asked for: the bad one is
  // always the substituter's first choice.
  const badAsked = new Map<string, () => void>();
  const asked = new Map(
    [...narUrl.keys()].map((h) => [h, new Promise<void>((resolve) => badAsked.set(h, resolve))]),
  );
  const bad = await serveCache(badDir, {
    override: (req) => {
      for (const [h, url] of narUrl) if (req.url === `/${url}`) badAsked.get(h)!();
      return false;
    },
  });
  const good = await serveCache(goodDir, {
    override: (req, res) => {
      const h = req.url?.slice(1, -'.narinfo'.length);
      if (!req.url?.endsWith('.narinfo') || h === undefined || !asked.has(h)) return false;
      asked.get(h)!.then(async () => res.end(await readFile(join(goodDir, `${h}.narinfo`))));
      return true;
    },
  });
  const f = await openVoteFixture({
    logs: [{ name: 'mercury', entries: await Promise.all(paths.map((p) => nixFingerprint(nix, p))) }],
    vote: [parseDeciderSpec('threshold 1/1')],
    upstreams: [bad.url, good.url],
  });
  t.teardown(async () => {
    for (const release of badAsked.values()) release();
    await f.close();
    await Promise.all([bad.close(), good.close()]);
  });

  for (const attempt of ['first', 'second']) {
    const store = join(nix.dir, `store-${attempt}`);
    const res = await outcome(
      'nix-store',
      [
        '--store',
        store,
        '-r',
        ...paths,
        '--option',
        'substituters',
        f.url.slice(0, -1),
        '--option',
        'trusted-public-keys',
        formatNixPublicKey(f.cacheKey),
        '--option',
        'narinfo-cache-negative-ttl',
        '0',
        '--option',
        'narinfo-cache-positive-ttl',
        '0',
      ],
      { ...nix.env, XDG_CACHE_HOME: `${store}-xdg` },
    );
    t.is(res.code, 0, `${attempt} run: nix-store -r failed:\n${res.stderr}`);
    for (const path of paths) {
      const verify = await outcome('nix-store', ['--store', store, '--verify-path', path], nix.env);
      t.is(verify.code, 0, `${attempt} run: ${path} verifies: ${verify.stderr}`);
    }
    if (attempt === 'first') t.regex(res.stderr, /retrying/, 'Nix retried the cut transfers');
  }
  for (const url of narUrl.values()) {
    t.true(bad.requests.includes(`/${url}`), `the corrupted ${url} was tried first`);
    t.true(good.requests.includes(`/${url}`), `the intact ${url} was served`);
  }
  t.is(bad.requests.filter((r) => r.startsWith('/nar/')).length, 2, 'each bad file tried once, then skipped');
});

async function outcome(program: string, args: readonly string[], env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await run(program, args, { env, timeout: 120_000, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as ExecFileException & { stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
