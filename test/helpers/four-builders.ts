/**
 * The seed's four-builder story with the real Nix client, shared by the substituter's real-Nix tests
 * (full logs: test/substituter-real-nix.test.ts; light logs: test/substituter-light-real-nix.test.ts).
 * Four builders, mercury, venus, saturn and mars, build the same small derivations (one output refers to
 * another) and publish their fingerprints in their logs, peer to peer on 127.0.0.1. Saturn lies about one
 * path T: it logs T with another NAR hash, and its own binary cache (made by `nix copy`, served over HTTP)
 * carries a narinfo with that hash beside the real NAR. A user node then follows the four logs and is
 * the only substituter of a fresh Nix store (`realiseFrom`), with saturn's cache as its only upstream.
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrustixNode, TrustixNodeInit } from '../../node/assembly/trustix-node.ts';
import { submit } from '../../node/socket/submit-client.js';
import { formatEntry, parseEntry } from '../../protocol/entry.ts';
import { formatNixPublicKey } from '../../protocol/keys.ts';
import { formatNarinfo, parseNarinfo } from '../../protocol/narinfo.ts';
import { parseStorePath } from '../../protocol/store-path.ts';
import { type CacheServer, serveCache } from './cache-server.ts';
import { type OnStop, startTrustixNode } from './node-fixture.ts';
import { dialAddress, waitFor } from './p2p.ts';
import { nixFingerprint, type Outcome, outcome, type RealNix, realNix } from './real-nix.ts';

export const BUILDER_NAMES = ['mercury', 'venus', 'saturn', 'mars'] as const;

export interface FourBuilders {
  readonly nix: RealNix;
  /** Paths every builder reports truthfully. */
  readonly honest: readonly string[];
  /** The path saturn lies about (nothing refers to it). */
  readonly lied: string;
  readonly honestFingerprint: string;
  readonly tamperedFingerprint: string;
  /** Mercury, venus, saturn and mars, in BUILDER_NAMES order, each with every path sequenced. */
  readonly builders: readonly TrustixNode[];
  /** The bootstrap node's address, for the user nodes. */
  readonly bootstrap: string[];
  /** Saturn's binary cache: the honest one with saturn's lie in T's narinfo. */
  readonly saturnCache: CacheServer;
  /** The honest binary cache's directory, made by `nix copy` (not served). */
  readonly honestCacheDir: string;
  /** Saturn's cache's directory. */
  readonly saturnCacheDir: string;
}

/** `fingerprint` with every bit of its NAR hash flipped: what a lying builder publishes. */
function tamper(fingerprint: string): string {
  const e = parseEntry(fingerprint);
  return formatEntry({ ...e, narHash: e.narHash.map((b) => b ^ 0xff) });
}

/** Builds the paths, makes the caches and starts the bootstrap node and the four builders. */
export async function startFourBuilders(onStop: OnStop): Promise<FourBuilders> {
  const nix = await realNix();
  onStop(() => nix.cleanup());
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
  const honestCacheDir = join(nix.dir, 'cache');
  await nix.nix('nix', ['copy', '--to', `file://${honestCacheDir}`, ...all]);
  const saturnCacheDir = join(nix.dir, 'saturn-cache');
  await cp(honestCacheDir, saturnCacheDir, { recursive: true });
  const honestFingerprint = await nixFingerprint(nix, lied!);
  const tamperedFingerprint = tamper(honestFingerprint);
  const narinfoFile = join(saturnCacheDir, `${hashPart(lied!)}.narinfo`);
  const original = parseNarinfo(await readFile(narinfoFile));
  await writeFile(
    narinfoFile,
    formatNarinfo({ ...original, narHash: parseEntry(tamperedFingerprint).narHash, sigs: [] }),
  );
  const saturnCache = await serveCache(saturnCacheDir);
  onStop(() => saturnCache.close());

  const { node: boot } = await startTrustixNode(onStop, 'boot', { role: 'bootstrap' });
  const bootstrap = [dialAddress(boot.libp2p!)];
  const builders = await Promise.all(
    BUILDER_NAMES.map(
      async (name) => (await startTrustixNode(onStop, name, { bootstrap, nix: { env: nix.env } })).node,
    ),
  );
  for (const [i, b] of builders.entries()) {
    // Every builder hands the node its store paths (the node reads the NAR hash Nix registered);
    // saturn signs whatever it wants for T.
    await submit(join(dataDirOf(b), 'trustix.sock'), [
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
  return {
    nix,
    honest,
    lied: lied!,
    honestFingerprint,
    tamperedFingerprint,
    builders,
    bootstrap,
    saturnCache,
    honestCacheDir,
    saturnCacheDir,
  };
}

export function dataDirOf(n: TrustixNode): string {
  return (n as unknown as { init: TrustixNodeInit }).init.dataDir;
}

export function substituterUrl(node: TrustixNode): string {
  const { host, port } = node.httpAddress();
  return `http://${host}:${port}`;
}

export function hashPart(path: string): string {
  return parseStorePath(path).hashPart;
}

/**
 * `nix-store --store STORE -r PATHS` with `node` as the only substituter and its cache key trusted.
 * Each store gets its own XDG_CACHE_HOME: two Nix processes creating the narinfo cache database for one
 * substituter URL at once fail with "constraint failed" (tests may run concurrently).
 */
export function realiseFrom(
  nix: RealNix,
  store: string,
  node: TrustixNode,
  paths: readonly string[],
): Promise<Outcome> {
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
