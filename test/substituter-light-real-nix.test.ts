/**
 * The four-builder story with the real Nix client (test/helpers/four-builders.ts), the user's node
 * following all four logs light (issue 16, docs/guides/substituter.md "Full or light"): it keeps no copy
 * of any of them, and votes from lookups with inclusion proofs asked of the builders, peer to peer on
 * 127.0.0.1. Followed with the real CLI (`trustix follow --light`), it is the only substituter of a
 * fresh Nix store, with saturn's cache as its only upstream:
 * - `nix-store --store DIR -r` substitutes every honest path through it (without lookups every log
 *   would be silent, nothing decided, and every path a 404), and Nix verifies each NAR;
 * - saturn's path T is a 404: its honest value is decided, but the only narinfo for it carries saturn's
 *   hash, so Nix never receives saturn's narinfo or NAR; `trustix decide --json` names saturn as the
 *   dissenter and lists the four logs as light votes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { TrustixNode } from '../node/assembly/trustix-node.ts';
import { dataDir } from '../node/store/data-dir.ts';
import { openDatabase } from '../node/store/database.ts';
import { logPrefix, logRange } from '../node/store/layout.ts';
import { parseDeciderSpec } from '../node/vote/decider.ts';
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
import { isValidIn, nixSerialTest, outcome, pathInfo } from './helpers/real-nix.ts';

const CLI = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix.js');
const VERIFY_TIMEOUT_MS = 120_000;

type Cleanup = () => Promise<unknown>;

interface Setup extends FourBuilders {
  /** The user node voting `threshold 3/4` over the four logs followed light. */
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

/** The real CLI against the user node's data directory (its control socket). */
function cli(userDataDir: string, args: readonly string[]) {
  const env = { ...process.env };
  delete env['TRUSTIX_SOCKET'];
  return outcome(process.execPath, [CLI, ...args, '--data-dir', userDataDir], env);
}

async function makeSetup(): Promise<Setup> {
  const story = await startFourBuilders((c) => cleanups.push(c));
  const { bootstrap, saturnCache, builders } = story;
  const { node: user, dataDir: userDataDir } = await startTrustixNode((c) => cleanups.push(c), 'user', {
    bootstrap,
    http: { port: 0 },
    vote: [parseDeciderSpec('threshold 3/4')],
    upstreams: [saturnCache.url],
  });
  for (const [i, b] of builders.entries()) {
    const res = await cli(userDataDir, ['follow', b.ownLog.key.vkey, '--name', BUILDER_NAMES[i]!, '--light']);
    if (res.code !== 0) throw new Error(`trustix follow --light ${BUILDER_NAMES[i]}: ${res.stderr}`);
  }
  // Each light log's newest verified checkpoint holds every entry (checked against what its builder signed).
  const verified = Promise.all(builders.map((b) => user.light!.whenVerified(b.ownLog.logId, b.ownLog.size)));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(async () => {
      const logs = await cli(userDataDir, ['logs', '--json']);
      reject(new Error(`the light logs were not verified in ${VERIFY_TIMEOUT_MS} ms: ${logs.stdout}`));
    }, VERIFY_TIMEOUT_MS);
  });
  await Promise.race([verified, timeout]).finally(() => clearTimeout(timer));
  return { ...story, user, userDataDir };
}

nixSerialTest('the user node follows the four logs light and holds no copy of any', async (t) => {
  const { builders, user, userDataDir } = await setup();
  const res = await cli(userDataDir, ['logs', '--json']);
  t.is(res.code, 0, res.stderr);
  const { followed } = JSON.parse(res.stdout) as {
    followed: { name: string; logId: string; mode: string; state: string; verifiedSize: number }[];
  };
  t.deepEqual(
    followed.map((f) => [f.name, f.mode, f.state, f.verifiedSize]).sort(),
    builders.map((b, i) => [BUILDER_NAMES[i], 'light', 'ok', b.ownLog.size]).sort(),
  );
  // No mirror: the follower opened no store for any of them.
  t.deepEqual(user.follower!.list(), []);
  for (const b of builders) t.is(user.follower!.get(b.ownLog.logId), undefined);
});

nixSerialTest(
  'threshold 3/4 over light logs: Nix substitutes every honest path, decided from lookups with proofs',
  async (t) => {
    const { nix, honest, user, saturnCache, honestCacheDir } = await setup();
    const store = join(nix.dir, 'store-light-honest');
    const res = await realiseFrom(nix, store, user, honest);
    t.is(res.code, 0, `nix-store -r failed:\n${res.stderr}`);
    for (const path of honest) {
      t.true(await isValidIn(nix, store, path), `${path} is valid in the fresh store`);
      const [got, want] = await Promise.all([pathInfo(nix, path, store), pathInfo(nix, path)]);
      t.is(got.narHash, want.narHash, `${path}: the NAR hash Nix registered`);
      t.is(got.narSize, want.narSize);
      const verify = await outcome('nix-store', ['--store', store, '--verify-path', path], nix.env);
      t.is(verify.code, 0, `nix-store --verify-path ${path}: ${verify.stderr}`);
      const narinfo = parseNarinfo(await readFile(join(honestCacheDir, `${hashPart(path)}.narinfo`)));
      t.true(saturnCache.requests.includes(`/${narinfo.url}`), `${path}: NAR fetched from the upstream`);
      // The decision Nix was served: all four votes from light lookups, every one answered.
      const d = await user.decisions.decide(hashPart(path));
      t.like(d, { unanswered: [], misses: [], mismatches: [] });
      t.true(d.fingerprint?.startsWith(`1;${path};`), d.fingerprint);
      t.deepEqual([...d.light].sort(), [...BUILDER_NAMES].sort());
    }
  },
);

nixSerialTest(
  "threshold 3/4 over light logs: saturn's path is a 404, Nix never receives it, `decide --json` says light",
  async (t) => {
    const { nix, lied, user, userDataDir, saturnCache, saturnCacheDir } = await setup();
    const { honestFingerprint, tamperedFingerprint } = await setup();
    const store = join(nix.dir, 'store-light-lied');
    const res = await realiseFrom(nix, store, user, [lied]);
    t.not(res.code, 0, 'nix-store -r of the tampered path must fail');
    t.regex(res.stderr, /don't know how to build/);
    t.notRegex(res.stderr, /unable to download/, 'Nix reached the substituter: the refusal is a 404');
    t.true(res.stderr.includes(lied), res.stderr);
    t.false(await isValidIn(nix, store, lied), 'the tampered path is not in the store');

    const narinfo = await fetch(`${substituterUrl(user)}/${hashPart(lied)}.narinfo`);
    await narinfo.arrayBuffer();
    t.is(narinfo.status, 404);
    // The node asked saturn's cache for T's narinfo (and found saturn's hash), never for a NAR of T.
    const saturnNarinfo = parseNarinfo(await readFile(join(saturnCacheDir, `${hashPart(lied)}.narinfo`)));
    t.true(saturnCache.requests.includes(`/${hashPart(lied)}.narinfo`));
    t.false(saturnCache.requests.includes(`/${saturnNarinfo.url}`), 'no NAR of T was fetched');

    const decided = await cli(userDataDir, ['decide', lied, '--json']);
    t.is(decided.code, 0, decided.stderr);
    const json = JSON.parse(decided.stdout);
    t.like(json, {
      path: lied,
      decided: true,
      fingerprint: honestFingerprint,
      decider: 'threshold 3/4',
      agreeing: ['mars', 'mercury', 'venus'],
      mismatches: [{ log: 'saturn', fingerprint: tamperedFingerprint }],
      misses: [],
      unanswered: [],
    });
    t.deepEqual([...json.light].sort(), [...BUILDER_NAMES].sort(), 'every vote came from a light lookup');
  },
);

// Last: it stops the user node.
nixSerialTest(
  "once stopped, the user node's store holds no key of the four logs (no mirror on disk)",
  async (t) => {
    const { builders, user, userDataDir } = await setup();
    const ownLogId = user.ownLog.logId;
    await user.stop();
    const db = await openDatabase(dataDir(userDataDir).db);
    try {
      for (const [i, b] of builders.entries()) {
        let keys = 0;
        for await (const _ of db.keys(logRange(logPrefix(b.ownLog.logId)))) keys++;
        t.is(keys, 0, `${BUILDER_NAMES[i]}: no checkpoint, tile, entry or path index stored`);
      }
      // The check can see a log's keys: the user's own log is there.
      let own = 0;
      for await (const _ of db.keys(logRange(logPrefix(ownLogId)))) own++;
      t.true(own > 0);
    } finally {
      await db.close();
    }
  },
);
