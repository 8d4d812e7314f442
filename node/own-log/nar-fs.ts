/**
 * The NAR tree (protocol/nar-tree.ts) over the real filesystem: lstat, readdir, readlink and
 * streamed reads, so hashing a store path of any size uses constant memory.
 * Names and symlink targets stay raw bytes (Linux file names are bytes, not text).
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import type { NarNode } from '../../protocol/nar-tree.ts';
import { StorePathNotValidError } from '../errors.ts';

// Large reads keep the hash fed with few, big updates.
const READ_CHUNK = 1024 * 1024;

/** The NAR tree of the file, symlink or directory at `path` (not followed if a symlink). */
export async function narTreeOf(path: string | Buffer): Promise<NarNode> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return { type: 'symlink', target: await readlink(path, { encoding: 'buffer' }) };
  if (st.isFile()) {
    return {
      type: 'regular',
      // Nix keeps only the owner's executable bit.
      executable: (st.mode & 0o100) !== 0,
      size: st.size,
      // Small files in one read: a stream per file costs far more than the bytes.
      contents:
        st.size <= READ_CHUNK
          ? async function* () {
              yield await readFile(path);
            }
          : () => createReadStream(path, { highWaterMark: READ_CHUNK }),
    };
  }
  if (st.isDirectory()) {
    return {
      type: 'directory',
      entries: async () => {
        const names = await readdir(path, { encoding: 'buffer' });
        const base = typeof path === 'string' ? Buffer.from(path) : path;
        return names.map((name) => ({
          name,
          node: () => narTreeOf(Buffer.concat([base, Buffer.from('/'), name])),
        }));
      },
    };
  }
  throw new StorePathNotValidError(
    String(path),
    'not a regular file, directory or symlink; NAR cannot hold it',
  );
}
