/**
 * `trustix challenge` on the four builders of the vote's scenario (mercury, venus, saturn, mars; saturn
 * lies about one path, only mercury built another), through the real CLI against a user node that
 * found, synced and indexed their logs over libp2p on 127.0.0.1: exact verdicts, counts, exit codes,
 * and the `--json` document (docs/CLI.md).
 */
import '../node/runtime/promise-with-resolvers.ts';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { TrustixNode } from '../node/assembly/trustix-node.ts';
import { submit } from '../node/socket/submit-client.js';
import { formatEntry } from '../protocol/entry.ts';
import { encodeNix32 } from '../protocol/nix32.ts';
import { runCli } from './helpers/cli.ts';
import { startTrustixNode, type TestNodeInit } from './helpers/node-fixture.ts';
import { dialAddress, waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

function storePath(n: number, name: string): string {
  return `/nix/store/${encodeNix32(new Uint8Array(20).fill(n))}-${name}`;
}

function entry(path: string, narHashByte: number, references: string[] = []): string {
  return formatEntry({
    storePath: path,
    narHash: new Uint8Array(32).fill(narHashByte),
    narSize: 1000 + narHashByte,
    references,
  });
}

// A small closure: app -> lib -> libc; app -> libc. Saturn's libc differs. Only mercury built `tool`.
const LIBC = storePath(1, 'libc-2.39');
const LIB = storePath(2, 'libfoo-1.0');
const APP = storePath(3, 'app-1.0');
const TOOL = storePath(4, 'tool-0.1');
const honest = [entry(LIBC, 11), entry(LIB, 12, [LIBC]), entry(APP, 13, [LIB, LIBC])];
const others = [...syntheticEntries(40, 9)];
const LOGS: Record<string, string[]> = {
  mercury: [...honest, entry(TOOL, 14), ...others],
  venus: [...honest, ...others],
  saturn: [entry(LIBC, 99), ...honest.slice(1), ...others],
  mars: [...honest, ...others],
};

/** A started node (test/helpers/node-fixture.ts), stopped and removed at teardown. */
function startNode(t: ExecutionContext, name: string, init: TestNodeInit) {
  return startTrustixNode((c) => t.teardown(c), name, init);
}

test.serial('challenge: verdicts, counts, exit codes and JSON over four synced builders', async (t) => {
  t.timeout(240_000);
  const boot = await startNode(t, 'boot', { role: 'bootstrap' });
  const bootstrap = [dialAddress(boot.node.libp2p!)];
  const builders = new Map<string, TrustixNode>();
  for (const name of Object.keys(LOGS)) {
    const { node, dataDir } = await startNode(t, name, { bootstrap });
    builders.set(name, node);
    await submit(
      join(dataDir, 'trustix.sock'),
      LOGS[name]!.map((e) => ({ kind: 'entry' as const, entry: e })),
    );
  }
  const user = await startNode(t, 'user', { bootstrap });
  for (const [name, b] of builders) await user.node.followed.follow(b.keys.log.vkey, { name });
  await waitFor(
    'the user node synced and indexed all four logs',
    () =>
      [...builders].every(([name, b]) => {
        const size = LOGS[name]!.length;
        return (
          b.ownLog.size === size &&
          (user.node.stats.views.summary().logs.find((l) => l.name === name)?.indexed ?? 0) === size
        );
      }),
    { timeout: 90_000, interval: 100 },
  );
  const dir = ['--data-dir', user.dataDir];

  // Everything the logs hold: 44 paths; libc differs; tool is inconclusive.
  const all = await runCli(['challenge', '--json', ...dir]);
  t.is(all.code, 3, all.stderr);
  const doc = JSON.parse(all.stdout);
  t.deepEqual(doc.summary, { analysed: 44, reproducible: 42, mismatch: 1, inconclusive: 1 });
  t.is(doc.items.length, 1, 'the whole challenge lists the mismatching paths');
  t.like(doc.items[0], { storePath: LIBC, verdict: 'mismatch', silent: [] });
  t.deepEqual(
    doc.items[0].logs.map((l: { log: string; narHashes: string[] }) => [l.log, l.narHashes.length]),
    [
      ['mars', 1],
      ['mercury', 1],
      ['saturn', 1],
      ['venus', 1],
    ],
  );
  t.not(doc.items[0].logs[2].narHashes[0], doc.items[0].logs[0].narHashes[0], 'saturn’s hash differs');
  t.regex(all.stderr, /1 path\(s\) differ between builders/);

  // Named paths and their closure.
  const closure = await runCli(['challenge', APP, '--closure', '--json', ...dir]);
  t.is(closure.code, 3);
  const c = JSON.parse(closure.stdout);
  t.deepEqual(c.summary, { analysed: 3, reproducible: 2, mismatch: 1, inconclusive: 0 });
  t.deepEqual(
    c.items.map((i: { storePath: string }) => i.storePath),
    [LIBC],
    'reproducible paths are listed only with --verbose',
  );
  const verbose = await runCli(['challenge', APP, LIB, '--verbose', '--json', ...dir]);
  t.is(verbose.code, 0, 'app and lib agree everywhere');
  t.deepEqual(
    JSON.parse(verbose.stdout).items.map((i: { storePath: string; verdict: string }) => [
      i.storePath,
      i.verdict,
    ]),
    [
      [APP, 'reproducible'],
      [LIB, 'reproducible'],
    ],
  );

  // The text form: like guix challenge.
  const text = await runCli(['challenge', TOOL, LIBC, ...dir]);
  t.is(text.code, 3);
  t.regex(text.stdout, new RegExp(`${TOOL} inconclusive: only mercury built it`));
  t.regex(text.stdout, new RegExp(`${LIBC} contents differ:\\n  mars: +sha256:`));
  t.regex(
    text.stdout,
    /2 store item\(s\) were analysed:\n {2}- 0 were identical\n {2}- 1 differed\n {2}- 1 were inconclusive \(built by one log only\)\nreproducibility 0\.0% \(0 of the 1 paths built by two or more logs are identical\)/,
  );

  const bad = await runCli(['challenge', '/nix/store/nope', ...dir]);
  t.is(bad.code, 2, bad.stderr);
});
