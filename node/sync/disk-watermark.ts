/**
 * The low-disk watermark of syncs (config `sync.minFreeBytes`, docs/SECURITY.md): before a sync starts
 * and before each of its steps is written, the free space of the data directory's file system (statfs,
 * what an unprivileged process may use) must be at least the watermark, else DiskSpaceError and the
 * follower pauses the log instead of filling the disk that the node's own log and LevelDB need.
 */
import { statfs } from 'node:fs/promises';
import { DiskSpaceError } from '../errors.ts';

/** FollowerInit.minFreeBytes by default: 1 GiB. */
export const MIN_FREE_BYTES = 1024 ** 3;

export class DiskWatermark {
  readonly dir: string;
  readonly minFreeBytes: number;

  constructor(dir: string, minFreeBytes: number) {
    this.dir = dir;
    this.minFreeBytes = minFreeBytes;
  }

  /** Bytes free for an unprivileged writer on the directory's file system. */
  async free(): Promise<number> {
    const s = await statfs(this.dir);
    return s.bavail * s.bsize;
  }

  /** Throws DiskSpaceError when the free space is below the watermark. */
  async check(): Promise<void> {
    if (this.minFreeBytes <= 0) return;
    const free = await this.free();
    if (free < this.minFreeBytes) throw new DiskSpaceError(this.dir, free, this.minFreeBytes);
  }
}
