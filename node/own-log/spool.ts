/**
 * The spool: where Nix's post-build hook (node/own-log/post-build-hook.ts) leaves one file per build,
 * whether or not the node runs. This component takes them into the durable submission queue:
 *
 *   - at start (what accumulated while the node was down), on every change the directory reports
 *     (fs.watch), and every `scanIntervalMs` (a watch can miss events or fail: the scan is the backstop);
 *   - up to `maxFilesPerRecord` files per queue record, so a burst costs one synced append, not one each;
 *   - a file is removed only once the record holding its submissions is durably queued. A crash between
 *     the two leaves files that are queued again at the next start: the sequencer skips an entry the log
 *     already holds, so the log gets each build once;
 *   - a file that is not a well-formed spool file (node/own-log/spool-file.ts), too large, or not a
 *     regular file is moved to `<spool>/rejected/` with a `<name>.reason` file beside it, and logged.
 *
 * Files are opened without following symlinks and read with a size cap: the spool is input from outside.
 */
import { constants, type FSWatcher, watch } from 'node:fs';
import { mkdir, open, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { logger } from '@libp2p/logger';
import { MalformedError, TooLargeError } from '../../protocol/errors.ts';
import { DEFAULT_STORE_DIR } from '../../protocol/store-path.ts';
import { checkPermissions } from '../store/file-permissions.ts';
import type { Submission } from './queued-record.ts';
import { MAX_SPOOL_FILE_BYTES, parseSpoolFile } from './spool-file.ts';
import type { SubmissionQueue } from './submission-queue.ts';

const log = logger('trustix:spool');

/** The directory inside the spool where malformed files are set aside. */
export const REJECTED_DIR = 'rejected';

export interface SpoolInit {
  /** The spool directory (created if missing, mode 0700). */
  readonly dir: string;
  /** Store directory the paths must be in. Default '/nix/store'. */
  readonly storeDir?: string;
  /** Period of the backstop scan, in ms. Default 10,000. */
  readonly scanIntervalMs?: number;
  /** Most spool files taken into one queue record. Default 1,000. */
  readonly maxFilesPerRecord?: number;
}

export interface SpoolComponents {
  readonly queue: Pick<SubmissionQueue, 'enqueue'>;
}

/** A spool file set aside, and why. */
export interface SpoolRejection {
  readonly file: string;
  readonly reason: string;
}

export class Spool {
  private readonly queue: Pick<SubmissionQueue, 'enqueue'>;
  private readonly dir: string;
  private readonly storeDir: string;
  private readonly scanIntervalMs: number;
  private readonly maxFilesPerRecord: number;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  /** Read buffer, reused: a file is parsed before the next is read. */
  private readonly buffer = Buffer.alloc(MAX_SPOOL_FILE_BYTES + 1);
  private stopped = true;
  /** Spool files taken into the queue since start. */
  ingested = 0;
  /** Spool files set aside since start. */
  readonly rejections: SpoolRejection[] = [];

  constructor(components: SpoolComponents, init: SpoolInit) {
    this.queue = components.queue;
    this.dir = init.dir;
    this.storeDir = init.storeDir ?? DEFAULT_STORE_DIR;
    this.scanIntervalMs = init.scanIntervalMs ?? 10_000;
    this.maxFilesPerRecord = init.maxFilesPerRecord ?? 1000;
    if (!Number.isSafeInteger(this.maxFilesPerRecord) || this.maxFilesPerRecord < 1)
      throw new RangeError(`maxFilesPerRecord must be a positive integer, got ${this.maxFilesPerRecord}`);
  }

  /**
   * Creates the spool if missing, starts watching, and takes in what is already there. Refuses a spool
   * that another user could write to (InsecurePermissionsError): what it holds is published in the log.
   */
  async start(): Promise<void> {
    if (!this.stopped) return;
    await mkdir(join(this.dir, REJECTED_DIR), { recursive: true, mode: 0o700 });
    await checkPermissions(this.dir, { what: 'the spool' });
    this.stopped = false;
    try {
      this.watcher = watch(this.dir, { persistent: false }, () => this.kick());
      this.watcher.on('error', (err) => {
        log.error('watching %s failed (the periodic scan goes on): %s', this.dir, err);
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      log.error('cannot watch %s (the periodic scan goes on): %s', this.dir, err);
    }
    this.timer = setInterval(() => this.kick(), this.scanIntervalMs);
    this.timer.unref();
    this.kick();
  }

  /** Stops watching and waits for the ingest in progress (its files are queued or left in place). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Resolves once the spool has been scanned to empty (files arriving meanwhile included). */
  async drained(): Promise<void> {
    this.kick();
    while (this.running !== undefined) await this.running;
  }

  /** Asks for a scan: one runs at a time, and a request during a scan makes another follow it. */
  private kick(): void {
    if (this.stopped) return;
    this.again = true;
    if (this.running !== undefined) return;
    this.running = (async () => {
      while (this.again && !this.stopped) {
        this.again = false;
        try {
          await this.scan();
        } catch (err) {
          // The files stay; the next scan tries again (e.g. after a full disk has room again).
          log.error('taking in the spool %s failed: %s', this.dir, err);
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
  }

  /** Takes every file now in the spool into the queue, a record of up to maxFilesPerRecord at a time. */
  private async scan(): Promise<void> {
    for (;;) {
      const names = (await readdir(this.dir)).filter((n) => n !== REJECTED_DIR).sort();
      if (names.length === 0) return;
      for (let at = 0; at < names.length && !this.stopped; at += this.maxFilesPerRecord)
        await this.ingest(names.slice(at, at + this.maxFilesPerRecord));
      if (this.stopped) return;
    }
  }

  private async ingest(names: readonly string[]): Promise<void> {
    const taken: string[] = [];
    const submissions: Submission[] = [];
    for (const name of names) {
      const file = join(this.dir, name);
      let parsed: Submission[] | undefined;
      try {
        parsed = parseSpoolFile(await readCapped(file, this.buffer), this.storeDir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // gone meanwhile
        if (!(err instanceof MalformedError)) throw err;
        await this.setAside(name, err.message);
        continue;
      }
      taken.push(file);
      submissions.push(...parsed);
    }
    if (taken.length === 0) return;
    await this.queue.enqueue(submissions);
    // Only now: the submissions survive a crash. A crash before these unlinks queues them again.
    for (const file of taken)
      await unlink(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    this.ingested += taken.length;
    log('queued %d submission(s) from %d spool file(s)', submissions.length, taken.length);
  }

  private async setAside(name: string, reason: string): Promise<void> {
    const aside = join(this.dir, REJECTED_DIR, name);
    await rename(join(this.dir, name), aside);
    await writeFile(`${aside}.reason`, `${reason}\n`);
    this.rejections.push({ file: aside, reason });
    log.error('spool file %s set aside in %s: %s', name, aside, reason);
  }
}

/**
 * The bytes of a spool file, opened without following a symlink or blocking on a FIFO; refuses anything
 * but a regular file of at most MAX_SPOOL_FILE_BYTES (MalformedError). The result is a view of `buffer`.
 */
async function readCapped(file: string, buffer: Buffer): Promise<Buffer> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new MalformedError('spool file', 'a symbolic link', { cause: err });
    // Not ours to read (mode, a socket): set aside rather than block every later scan.
    if (code === 'EACCES' || code === 'EPERM' || code === 'ENXIO')
      throw new MalformedError('spool file', `cannot be opened (${code})`, { cause: err });
    throw err;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new MalformedError('spool file', 'not a regular file');
    if (info.size > MAX_SPOOL_FILE_BYTES)
      throw new TooLargeError('spool file', info.size, MAX_SPOOL_FILE_BYTES);
    // `buffer` holds one byte more than the cap: a file that grew after the stat is refused too.
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_SPOOL_FILE_BYTES) throw new TooLargeError('spool file', length, MAX_SPOOL_FILE_BYTES);
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
