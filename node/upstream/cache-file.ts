/**
 * Opening a file of a `file://` binary cache, which other users may be able to write
 * (docs/SECURITY.md "File caches"). A writer of the cache directory must not make the node read any
 * other file it can read (a symlink to `cache.secret`), nor hang it (a FIFO). So a file is opened
 * without following a symlink in its last component (O_NOFOLLOW) and without blocking (O_NONBLOCK, which
 * makes opening a FIFO return at once); it must then be a regular file, and the path the kernel opened
 * (/proc/self/fd) must lie inside the cache's real root (a symlinked directory on the way leaves it).
 */
import { constants } from 'node:fs';
import { type FileHandle, open, readlink, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { MalformedError } from '../../protocol/errors.ts';

const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Opens `name` (a relative path without `..`) under `root`; undefined when it does not exist;
 * MalformedError for a symlink, a non-regular file or a path that leaves the root.
 */
export async function openCacheFile(root: string, name: string): Promise<FileHandle | undefined> {
  if (name.split('/').some((part) => part === '..' || part === '.'))
    throw new MalformedError('cache file', `${JSON.stringify(name)} leaves the cache`);
  const path = join(root, name);
  let file: FileHandle;
  try {
    file = await open(path, FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new MalformedError('cache file', `${path} is a symlink: not followed`);
    throw err;
  }
  try {
    if (!(await file.stat()).isFile())
      throw new MalformedError('cache file', `${path} is not a regular file`);
    const [opened, realRoot] = await Promise.all([openedPath(file, path), realpath(root)]);
    if (!opened.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep))
      throw new MalformedError('cache file', `${path} resolves to ${opened}, outside the cache ${realRoot}`);
    return file;
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** The path the kernel opened for `file`, by /proc where there is one. */
async function openedPath(file: FileHandle, path: string): Promise<string> {
  try {
    return await readlink(`/proc/self/fd/${file.fd}`);
  } catch {
    return await realpath(path);
  }
}
