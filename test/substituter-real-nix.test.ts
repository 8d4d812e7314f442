/**
 * The proof with the real Nix client, on the four-builder story (test/helpers/four-builders.ts):
 * mercury, venus, saturn and mars log the same paths, saturn lies about one path T in its log and in its
 * binary cache. Here the user node mirrors the four logs (full); test/substituter-light-real-nix.test.ts
 * tells the same story with light logs.
 *
 * A user node follows the four logs with `threshold 3/4` and is the only substituter of a fresh Nix
 * store, with saturn's cache as its only upstream:
 * - `nix-store --store DIR -r` substitutes every honest path through it, and Nix verifies each NAR;
 * - T is a 404 (its honest value is decided, but the only narinfo for it carries saturn's hash), so Nix
 *   reports it cannot substitute T; the vote and `trustix decide` name saturn as the dissenter.
 * A second user node that trusts saturn serves saturn's narinfo for T, and Nix itself refuses the NAR
 * (hash mismatch): the vote is what stands between a lying builder and the store.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { TrustixNode } from '../node/assembly/trustix-node.ts';
import { parseDeciderSpec } from '../node/vote/decider.ts';
import { parseEntry } from '../protocol/entry.ts';
import { parseNarinfo } from '../protocol/narinfo.ts';
import {
  BUILDER_NAMES,
  type FourBuilders,
  hashPart,
  realiseFrom,
  startFourBuilders,
  substituterUrl,
} from './helpers/four-builders.ts';
import { startTrustixNode } from './helpers/node-fixture.ts';
import { waitFor } from './helpers/p2p.ts';
import { isValidIn, nixTest, outcome, pathInfo } from './helpers/real-nix.ts';

const CLI = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix.js');
const SYNC_TIMEOUT_MS = 60_000;

type Cleanup = () => Promise<unknown>;

interface Setup extends FourBuilders {
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
  const story = await startFourBuilders((c) => cleanups.push(c));
  const { bootstrap, saturnCache, builders } = story;
  const onStop = (c: Cleanup) => cleanups.push(c);
  const { node: user, dataDir: userDataDir } = await startTrustixNode(onStop, 'user', {
    bootstrap,
    http: { port: 0 },
    vote: [parseDeciderSpec('threshold 3/4')],
    upstreams: [saturnCache.url],
  });
  await followBuilders(user, builders);
  return { ...story, user, userDataDir };
}

nixTest(
  'threshold 3/4: Nix substitutes every honest path from the user node and verifies its NAR',
  async (t) => {
    const { nix, honest, user, saturnCache, honestCacheDir } = await setup();
    const store = join(nix.dir, 'store-honest');
    const res = await realiseFrom(nix, store, user, honest);
    t.is(res.code, 0, `nix-store -r failed:\n${res.stderr}`);
    for (const path of honest) {
      t.true(await isValidIn(nix, store, path), `${path} is valid in the fresh store`);
      const [got, want] = await Promise.all([pathInfo(nix, path, store), pathInfo(nix, path)]);
      t.is(got.narHash, want.narHash, `${path}: the NAR hash Nix registered`);
      t.is(got.narSize, want.narSize);
      const verify = await outcome('nix-store', ['--store', store, '--verify-path', path], nix.env);
      t.is(verify.code, 0, `nix-store --verify-path ${path}: ${verify.stderr}`);
      // The NAR came from the upstream, through our /nar/ route.
      const narinfo = parseNarinfo(await readFile(join(honestCacheDir, `${hashPart(path)}.narinfo`)));
      t.true(saturnCache.requests.includes(`/${narinfo.url}`), `${path}: NAR fetched from the upstream`);
    }
  },
);

nixTest(
  "threshold 3/4: saturn's tampered path is a 404, Nix cannot substitute it, the vote names saturn",
  async (t) => {
    const { nix, lied, user, honestFingerprint, tamperedFingerprint } = await setup();
    const store = join(nix.dir, 'store-lied');
    const res = await realiseFrom(nix, store, user, [lied]);
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
    const res = await realiseFrom(nix, store, truster, [lied]);
    t.not(res.code, 0, 'Nix must refuse a NAR whose hash differs from the narinfo');
    t.regex(res.stderr, /hash mismatch/i);
    t.false(await isValidIn(nix, store, lied), 'the tampered path is not in the store');
  },
);
