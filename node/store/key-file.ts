/**
 * Secret key files on disk: created once, complete and synced, mode 0600, never overwritten.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, open, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes `text` to `path` unless a file is already there; false when one was (another writer won).
 * A complete, synced temporary file is linked into place: a crash never leaves a half-written key, and
 * link() fails with EEXIST rather than replace a key that appeared meanwhile.
 */
export async function createKeyFile(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const file = await open(tmp, 'wx', 0o600);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    // The mode given to open() is filtered by the umask; make it exactly 0600.
    await chmod(tmp, 0o600);
    await link(tmp, path);
    await syncDir(dirname(path));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** Whether `path` exists (any other stat failure is thrown). */
export async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Makes a new directory entry durable (a lost entry would mean a lost key after a crash). */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
