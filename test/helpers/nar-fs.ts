/**
 * A small test-local adapter from real files to the abstract NAR tree (protocol/nar-tree.ts), and
 * the unpacking of test/fixtures/nix/trees.tar (git keeps no empty dirs, so the tar is the source).
 * node/ has its own production adapter; this one only serves the vectors.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NarNode } from '../../protocol/nar-tree.ts';
import { NIX_FIXTURES } from './nix-fixtures.ts';

/** The tree at `path` (not following symlinks), read lazily. Names stay raw bytes. */
export async function fsNode(path: string | Buffer): Promise<NarNode> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return { type: 'symlink', target: await readlink(path, { encoding: 'buffer' }) };
  if (st.isDirectory()) {
    return {
      type: 'directory',
      entries: async () => {
        const names = await readdir(path, { encoding: 'buffer' });
        const dir = Buffer.from(path);
        return names.map((name) => ({
          name,
          node: () => fsNode(Buffer.concat([dir, Buffer.from('/'), name])),
        }));
      },
    };
  }
  if (st.isFile()) {
    return {
      type: 'regular',
      executable: (st.mode & 0o100) !== 0,
      size: st.size,
      contents: () => createReadStream(path, { highWaterMark: 1 << 20 }),
    };
  }
  throw new Error(`${String(path)}: not a file, directory or symlink`);
}

/** Unpacks trees.tar into a fresh temp dir; returns it and a cleanup function. */
export async function unpackTrees(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'trustix-nix-trees-'));
  execFileSync('tar', ['-xf', join(NIX_FIXTURES, 'trees.tar'), '-C', dir]);
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
