/**
 * `challenge --diff` end to end below the CLI: two builders publish different outputs for one path, each
 * in its own binary cache (one xz-compressed over HTTP, one uncompressed on disk); the node finds both
 * NARs by the exact fingerprints the logs hold, and reports which files differ.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { challengeDiff, NothingToDiffError } from '../node/stats/challenge-diff.ts';
import { ReproStats } from '../node/stats/repro-stats.ts';
import { parseDeciderSpec } from '../node/vote/decider.ts';
import { formatEntry } from '../protocol/entry.ts';
import { narChunks, narHash } from '../protocol/nar.ts';
import { memoryDirectory, memoryFile, memorySymlink } from '../protocol/nar-tree.ts';
import { formatNarinfo } from '../protocol/narinfo.ts';
import { encodeNix32 } from '../protocol/nix32.ts';
import { serveCache } from './helpers/cache-server.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { openVoteFixture } from './helpers/vote-fixture.ts';

const PATH = `/nix/store/${encodeNix32(new Uint8Array(20).fill(7))}-hello-2.12.1`;
const HASH = PATH.slice(11, 43);

const honestTree = memoryDirectory({
  bin: memoryDirectory({ hello: memoryFile('#!/bin/sh\necho hello\n', { executable: true }) }),
  share: memoryDirectory({ doc: memoryFile('docs\n') }),
  lib: memorySymlink('bin'),
});
const saturnTree = memoryDirectory({
  bin: memoryDirectory({ hello: memoryFile('#!/bin/sh\necho pwned\n', { executable: true }) }),
  share: memoryDirectory({ doc: memoryFile('docs\n'), extra: memoryFile('x') }),
  lib: memorySymlink('bin'),
});

async function narBytes(tree: typeof honestTree): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of narChunks(tree)) parts.push(Uint8Array.from(c));
  return new Uint8Array(Buffer.concat(parts));
}

/** A one-path binary cache in `dir`: nix-cache-info, the narinfo, and the NAR (uncompressed). */
async function cacheWith(dir: string, tree: typeof honestTree): Promise<string> {
  const { hash, size } = await narHash(tree);
  await mkdir(join(dir, 'nar'), { recursive: true });
  await writeFile(join(dir, 'nix-cache-info'), 'StoreDir: /nix/store\n');
  await writeFile(join(dir, 'nar', `${encodeNix32(hash)}.nar`), await narBytes(tree));
  await writeFile(
    join(dir, `${HASH}.narinfo`),
    formatNarinfo({
      storePath: PATH,
      url: `nar/${encodeNix32(hash)}.nar`,
      compression: 'none',
      narHash: hash,
      narSize: size,
      references: [],
      sigs: [],
      extra: [],
    }),
  );
  return formatEntry({ storePath: PATH, narHash: hash, narSize: size, references: [] });
}

test('the NARs behind two differing log entries are found upstream and compared file by file', async (t) => {
  const root = await tempDir('trustix-diff-');
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const honest = await cacheWith(join(root, 'mercury'), honestTree);
  const lie = await cacheWith(join(root, 'saturn'), saturnTree);
  const server = await serveCache(join(root, 'saturn'));
  t.teardown(() => server.close());
  const f = await openVoteFixture({
    logs: [
      { name: 'mercury', entries: [honest] },
      { name: 'saturn', entries: [lie] },
    ],
    vote: [parseDeciderSpec('threshold 1/2')],
    upstreams: [pathToFileURL(join(root, 'mercury')).href, server.url],
  });
  t.teardown(() => f.close());
  const stats = new ReproStats({ db: f.db, followed: f.followed, store: (id) => f.store(id) });
  await stats.start();
  t.teardown(() => stats.stop());

  const d = await challengeDiff(stats.views, f.upstreams, HASH);
  t.like(d.a, { log: 'mercury', fingerprint: honest });
  t.like(d.b, { log: 'saturn', fingerprint: lie, upstream: server.url });
  t.false(d.diff.identical);
  t.deepEqual(
    d.diff.differences.map((x) => [x.kind, x.path]),
    [
      ['content', 'bin/hello'],
      ['only-in-b', 'share/extra'],
    ],
  );
  t.regex(d.text, /differing content: bin\/hello \(mercury \d+ bytes sha256:[0-9a-f]+/);
  t.regex(d.text, /only in saturn: share\/extra/);
});

test('nothing to compare: logs that agree, or a NAR no upstream has', async (t) => {
  const root = await tempDir('trustix-diff-');
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const honest = await cacheWith(join(root, 'mercury'), honestTree);
  const { hash, size } = await narHash(saturnTree);
  const lie = formatEntry({ storePath: PATH, narHash: hash, narSize: size, references: [] });
  const f = await openVoteFixture({
    logs: [
      { name: 'mercury', entries: [honest] },
      { name: 'venus', entries: [honest] },
      { name: 'saturn', entries: [lie] },
    ],
    vote: [parseDeciderSpec('threshold 1/2')],
    upstreams: [pathToFileURL(join(root, 'mercury')).href],
  });
  t.teardown(() => f.close());
  const stats = new ReproStats({ db: f.db, followed: f.followed, store: (id) => f.store(id) });
  await t.throwsAsync(challengeDiff(stats.views, f.upstreams, HASH), {
    instanceOf: NothingToDiffError,
    message: /no upstream cache has the NAR saturn published/,
  });
  await t.throwsAsync(challengeDiff(stats.views, f.upstreams, encodeNix32(new Uint8Array(20).fill(9))), {
    instanceOf: NothingToDiffError,
  });
});
