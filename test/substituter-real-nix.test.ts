/**
 * The proof with the real Nix client. Four builders, mercury, venus, saturn and mars, build the
 * same small derivations (one output refers to another) and publish their fingerprints in their logs,
 * peer to peer on 127.0.0.1. Saturn lies about one path T: it logs T with another NAR hash, and its own
 * binary cache (made by `nix copy`, served over HTTP) carries a narinfo with that hash beside the real NAR.
 *
 * A user node follows the four logs with `threshold 3/4` and is the only substituter of a fresh Nix
 * store, with saturn's cache as its only upstream:
 * - `nix-store --store DIR -r` substitutes every honest path through it, and Nix verifies each NAR;
 * - T is a 404 (its honest value is decided, but the only narinfo for it carries saturn's hash), so Nix
 *   reports it cannot substitute T; the vote and `trustix decide` name saturn as the dissenter.
 * A second user node that trusts saturn serves saturn's narinfo for T, and Nix itself refuses the NAR
 * (hash mismatch): the vote is what stands between a lying builder and the store.
 */
import { type ExecFileException, execFile } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { submit } from '../node/socket/submit-client.js';
import type { TrustixNode, TrustixNodeInit } from '../node/trustix-node.ts';
import { parseDeciderSpec } from '../node/vote/decider.ts';
import { formatEntry, parseEntry } from '../protocol/entry.ts';
import { formatNixPublicKey } from '../protocol/keys.ts';
import { formatNarinfo, parseNarinfo } from '../protocol/narinfo.ts';
import { parseStorePath } from '../protocol/store-path.ts';
import { type CacheServer, serveCache } from './helpers/cache-server.ts';
import { startTrustixNode } from './helpers/node-fixture.ts';
import { dialAddress, waitFor } from './helpers/p2p.ts';
import { nixFingerprint, nixTest, type RealNix, realNix } from './helpers/real-nix.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix.js');
const BUILDER_NAMES = ['mercury', 'venus', 'saturn', 'mars'] as const;
const SYNC_TIMEOUT_MS = 60_000;

type Cleanup = () => Promise<unknown>;

interface Setup {
  readonly nix: RealNix;
  /** Paths every builder reports truthfully. */
  readonly honest: readonly string[];
  /** The path saturn lies about (nothing refers to it). */
  readonly lied: string;
  readonly honestFingerprint: string;
  readonly tamperedFingerprint: string;
  readonly builders: readonly TrustixNode[];
  readonly bootstrap: string[];
  readonly saturnCache: CacheServer;
  /** The user node voting `threshold 3/4`. */
  readonly user: TrustixNode;
  readonly userDataDir: string;
}

// Shared by the tests below; torn down once they are all done.
const cleanups: Cleanup[] = [];
let shared: Promise<Setup> | undefined;
const setup = (): Promise<Setup> => {
  shared ??= makeSetup();
  return shared;
};
test.after.always('stop every node, remove temp dirs', async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** `fingerprint` with every bit of its NAR hash flipped: what a lying builder publishes. */
function tamper(fingerprint: string): string {
  const e = parseEntry(fingerprint);
  return formatEntry({ ...e, narHash: e.narHash.map((b) => b ^ 0xff) });
}

/** Follows the four builders' logs under their names and waits until `user` holds each one in full. */
async function followBuilders(user: TrustixNode, builders: readonly TrustixNode[]): Promise<void> {
  for (const [i, b] of builders.entries())
    await user.followed.follow(b.ownLog.key.vkey, { name: BUILDER_NAMES[i]! });
  try {
    await waitFor(
      `the user node to sync the four logs to ${builders.map((b) => b.ownLog.size).join(', ')} entries`,
      () =>
        builders.every((b) => {
          const { logId, size } = b.ownLog;
          if (user.follower!.status(logId)?.state === 'forked') throw new Error(`log ${logId} is forked`);
          return user.follower!.get(logId)?.size === size;
        }),
      { timeout: SYNC_TIMEOUT_MS, interval: 50 },
    );
  } catch (err) {
    // Say where each log stands: a stuck sync must be diagnosable from the failure alone.
    const statuses = builders.map((b) => {
      const { progress: _progress, vkey: _vkey, ...s } = user.follower!.status(b.ownLog.logId) ?? {};
      return s;
    });
    throw new Error(`${(err as Error).message}; follower status: ${JSON.stringify(statuses, null, 1)}`);
  }
}

async function makeSetup(): Promise<Setup> {
  const nix = await realNix();
  cleanups.push(() => nix.cleanup());
  const s = nix.salt;
  // Builders have no PATH: tools by full path. `ref` refers to `file`; `lied` is referred to by nothing,
  // so refusing it leaves every honest path substitutable.
  const file = await nix.writeNix(
    'builds',
    `let mk = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" script]; }; in rec {
      file = mk "subst-file" "echo ${s} > $out";
      tree = mk "subst-tree" "/bin/mkdir -p $out/bin; echo ${s} > $out/salt; echo '#!/bin/sh' > $out/bin/x; /bin/chmod +x $out/bin/x; /bin/ln -s bin/x $out/x";
      ref = mk "subst-ref" "/bin/mkdir $out; echo \${file} > $out/dep; echo ${s} > $out/salt";
      lied = mk "subst-lied" "/bin/mkdir $out; echo ${s} lied about > $out/data";
    }`,
  );
  const honest: string[] = [];
  for (const attr of ['file', 'tree', 'ref']) honest.push(...(await nix.build(file, attr)));
  const [lied] = await nix.build(file, 'lied');
  const all = [...honest, lied!];

  // The honest binary cache, made by Nix; saturn's is a copy with its lie in T's narinfo.
  const honestCache = join(nix.dir, 'cache');
  await nix.nix('nix', ['copy', '--to', `file://${honestCache}`, ...all]);
  const saturnDir = join(nix.dir, 'saturn-cache');
  await cp(honestCache, saturnDir, { recursive: true });
  const honestFingerprint = await nixFingerprint(nix, lied!);
  const tamperedFingerprint = tamper(honestFingerprint);
  const narinfoFile = join(saturnDir, `${parseStorePath(lied!).hashPart}.narinfo`);
  const original = parseNarinfo(await readFile(narinfoFile));
  await writeFile(
    narinfoFile,
    formatNarinfo({ ...original, narHash: parseEntry(tamperedFingerprint).narHash, sigs: [] }),
  );
  const saturnCache = await serveCache(saturnDir);
  cleanups.push(() => saturnCache.close());

  const onStop = (c: Cleanup) => cleanups.push(c);
  const { node: boot } = await startTrustixNode(onStop, 'boot', { role: 'bootstrap' });
  const bootstrap = [dialAddress(boot.libp2p!)];
  const builders = await Promise.all(
    BUILDER_NAMES.map(
      async (name) => (await startTrustixNode(onStop, name, { bootstrap, nix: { env: nix.env } })).node,
    ),
  );
  for (const [i, b] of builders.entries()) {
    const socket = join(dataDirOfLog(b), 'trustix.sock');
    // Every builder hands the node its store paths (the node reads the NAR hash Nix registered);
    // saturn signs whatever it wants for T.
    await submit(socket, [
      ...honest.map((path) => ({ kind: 'path' as const, path })),
      BUILDER_NAMES[i] === 'saturn'
        ? { kind: 'entry' as const, entry: tamperedFingerprint }
        : { kind: 'path' as const, path: lied! },
    ]);
  }
  await waitFor(
    `every builder to sequence its ${all.length} entries`,
    () => builders.every((b) => b.ownLog.size === all.length),
    { timeout: 20_000 },
  );

  const { node: user, dataDir: userDataDir } = await startTrustixNode(onStop, 'user', {
    bootstrap,
    http: { port: 0 },
    vote: [parseDeciderSpec('threshold 3/4')],
    upstreams: [saturnCache.url],
  });
  await followBuilders(user, builders);
  return {
    nix,
    honest,
    lied: lied!,
    honestFingerprint,
    tamperedFingerprint,
    builders,
    bootstrap,
    saturnCache,
    user,
    userDataDir,
  };
}

function dataDirOfLog(n: TrustixNode): string {
  return (n as unknown as { init: TrustixNodeInit }).init.dataDir;
}

function substituterUrl(node: TrustixNode): string {
  const { host, port } = node.httpAddress();
  return `http://${host}:${port}`;
}

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion with the real-Nix environment; a non-zero exit is an outcome, not a throw. */
async function outcome(program: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(program, args, { env, timeout: 60_000, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as ExecFileException & { stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * `nix-store --store STORE -r PATHS` with `node` as the only substituter and its cache key trusted.
 * Each store gets its own XDG_CACHE_HOME: two Nix processes creating the narinfo cache database for one
 * substituter URL at once fail with "constraint failed" (the tests below run concurrently).
 */
function realise(nix: RealNix, store: string, node: TrustixNode, paths: readonly string[]): Promise<Outcome> {
  return outcome(
    'nix-store',
    [
      '--store',
      store,
      '-r',
      ...paths,
      '--option',
      'substituters',
      substituterUrl(node),
      '--option',
      'trusted-public-keys',
      formatNixPublicKey(node.keys.cacheSecret),
      '--option',
      'narinfo-cache-negative-ttl',
      '0',
      '--option',
      'narinfo-cache-positive-ttl',
      '0',
    ],
    { ...nix.env, XDG_CACHE_HOME: `${store}-xdg` },
  );
}

/** `nix path-info --json` of `path` in `store` (the machine's store when undefined). */
async function pathInfo(nix: RealNix, path: string, store?: string) {
  const args = ['path-info', '--json', ...(store ? ['--store', store] : []), path];
  const [info] = JSON.parse(await nix.nix('nix', args)) as {
    path: string;
    narHash: string;
    narSize: number;
  }[];
  return info!;
}

async function isValidIn(nix: RealNix, store: string, path: string): Promise<boolean> {
  return (await outcome('nix-store', ['--store', store, '--check-validity', path], nix.env)).code === 0;
}

nixTest(
  'threshold 3/4: Nix substitutes every honest path from the user node and verifies its NAR',
  async (t) => {
    const { nix, honest, user, saturnCache } = await setup();
    const store = join(nix.dir, 'store-honest');
    const res = await realise(nix, store, user, honest);
    t.is(res.code, 0, `nix-store -r failed:\n${res.stderr}`);
    for (const path of honest) {
      t.true(await isValidIn(nix, store, path), `${path} is valid in the fresh store`);
      const [got, want] = await Promise.all([pathInfo(nix, path, store), pathInfo(nix, path)]);
      t.is(got.narHash, want.narHash, `${path}: the NAR hash Nix registered`);
      t.is(got.narSize, want.narSize);
      const verify = await outcome('nix-store', ['--store', store, '--verify-path', path], nix.env);
      t.is(verify.code, 0, `nix-store --verify-path ${path}: ${verify.stderr}`);
      // The NAR came from the upstream, through our /nar/ route.
      const narinfo = parseNarinfo(await readFile(join(nix.dir, 'cache', `${hashPart(path)}.narinfo`)));
      t.true(saturnCache.requests.includes(`/${narinfo.url}`), `${path}: NAR fetched from the upstream`);
    }
  },
);

nixTest(
  "threshold 3/4: saturn's tampered path is a 404, Nix cannot substitute it, the vote names saturn",
  async (t) => {
    const { nix, lied, user, honestFingerprint, tamperedFingerprint } = await setup();
    const store = join(nix.dir, 'store-lied');
    const res = await realise(nix, store, user, [lied]);
    t.not(res.code, 0, 'nix-store -r of the tampered path must fail');
    t.regex(res.stderr, /don't know how to build/);
    t.notRegex(res.stderr, /unable to download/, 'Nix reached the substituter: the refusal is a 404');
    t.true(res.stderr.includes(lied), res.stderr);
    t.false(await isValidIn(nix, store, lied), 'the tampered path is not in the store');

    const narinfo = await fetch(`${substituterUrl(user)}/${hashPart(lied)}.narinfo`);
    await narinfo.arrayBuffer();
    t.is(narinfo.status, 404);

    const d = await user.decisions.decide(hashPart(lied));
    t.is(d.fingerprint, honestFingerprint, 'the honest value is decided');
    t.deepEqual(d.agreeing, ['mars', 'mercury', 'venus']);
    t.deepEqual(d.mismatches, [{ log: 'saturn', fingerprint: tamperedFingerprint }]);
    t.deepEqual(d.misses, []);
  },
);

nixTest(
  '`trustix decide` (the real CLI): the honest value with saturn as mismatch; exit 3 for an unknown path',
  async (t) => {
    const { lied, userDataDir, honestFingerprint, tamperedFingerprint } = await setup();
    const env = { ...process.env };
    delete env['TRUSTIX_SOCKET'];
    const cli = (path: string) =>
      outcome(process.execPath, [CLI, 'decide', path, '--json', '--data-dir', userDataDir], env);

    const decided = await cli(lied);
    t.is(decided.code, 0, decided.stderr);
    t.like(JSON.parse(decided.stdout), {
      path: lied,
      decided: true,
      fingerprint: honestFingerprint,
      decider: 'threshold 3/4',
      agreeing: ['mars', 'mercury', 'venus'],
      mismatches: [{ log: 'saturn', fingerprint: tamperedFingerprint }],
      misses: [],
    });

    const nobody = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nobody-built-this';
    const unknown = await cli(nobody);
    t.is(unknown.code, 3, `exit code for an undecided path; stderr: ${unknown.stderr}`);
    t.like(JSON.parse(unknown.stdout), { path: nobody, decided: false, fingerprint: null, agreeing: [] });
    t.deepEqual([...JSON.parse(unknown.stdout).misses].sort(), ['mars', 'mercury', 'saturn', 'venus']);
  },
);

nixTest(
  "`trust saturn`: saturn's narinfo is served, and Nix refuses the NAR with a hash mismatch",
  async (t) => {
    const { nix, lied, builders, bootstrap, saturnCache, tamperedFingerprint } = await setup();
    const stops: Cleanup[] = [];
    t.teardown(async () => {
      for (const stop of stops.reverse()) await stop().catch(() => {});
    });
    const { node: truster } = await startTrustixNode((c) => stops.push(c), 'truster', {
      bootstrap,
      http: { port: 0 },
      vote: [parseDeciderSpec('trust saturn')],
      upstreams: [saturnCache.url],
    });
    await followBuilders(truster, builders);

    const d = await truster.decisions.decide(hashPart(lied));
    t.is(d.fingerprint, tamperedFingerprint, "trusting saturn decides saturn's value");
    const served = await fetch(`${substituterUrl(truster)}/${hashPart(lied)}.narinfo`);
    t.is(served.status, 200);
    t.deepEqual(
      parseNarinfo(await served.text()).narHash,
      parseEntry(tamperedFingerprint).narHash,
      "the narinfo served carries saturn's NAR hash",
    );

    const store = join(nix.dir, 'store-trusting');
    const res = await realise(nix, store, truster, [lied]);
    t.not(res.code, 0, 'Nix must refuse a NAR whose hash differs from the narinfo');
    t.regex(res.stderr, /hash mismatch/i);
    t.false(await isValidIn(nix, store, lied), 'the tampered path is not in the store');
  },
);

function hashPart(path: string): string {
  return parseStorePath(path).hashPart;
}
