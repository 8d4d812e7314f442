/**
 * The append-only journal behind the submission queue: acknowledged requests as framed records in
 * segment files, each append synced (fdatasync) before it is acknowledged. A file, not LevelDB: bulk
 * imports queue hundreds of megabytes that are read once and dropped, and through LevelDB they would be
 * written to its log, its memtable, its level-0 tables and compacted again before their deletion.
 *
 * Segment `<dir>/<first seq, 16 digits>.journal` holds records back to back:
 *
 *   record = u32 payload length || u64 seq || u32 CRC-32 of (seq bytes || payload) || payload   (big-endian)
 *
 * Appends waiting together are written with one writev and one fdatasync (group commit). On open, each
 * segment is scanned: a torn record at the end of the last segment (a crash during an append that was
 * never acknowledged) is cut off; a bad record anywhere else means damage and refuses the open.
 * Segments holding only records below `doneBefore` are deleted by `release`.
 */
import { type FileHandle, mkdir, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { logger } from '@libp2p/logger';
import { InternalError, StoppedError, StoreCorruptError } from '../errors.ts';

const log = logger('trustix:submission-journal');

const HEADER = 16;
/** Largest record: far above a request (1 MiB over the socket by default, 10,000 submissions). */
export const MAX_JOURNAL_PAYLOAD = 64 * 1024 * 1024;
const SEGMENT_NAME = /^(\d{16})\.journal$/;

export interface JournalInit {
  /** A new segment starts once the current one passes this many bytes. Default 64 MiB. */
  readonly segmentBytes?: number;
}

/** Where a record's payload is: enough to read it back without holding it in memory. */
export interface JournalRecord {
  readonly seq: number;
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
}

interface Segment {
  readonly first: number;
  readonly handle: FileHandle;
  size: number;
  last: number;
}

interface Append {
  readonly seq: number;
  readonly payload: Uint8Array;
  resolve(record: JournalRecord): void;
  reject(err: unknown): void;
}

export class SubmissionJournal {
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly segments: Segment[] = [];
  private readonly waiting: Append[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;

  private constructor(dir: string, init: JournalInit) {
    this.dir = dir;
    this.segmentBytes = init.segmentBytes ?? 64 * 1024 * 1024;
  }

  /**
   * Opens the journal in `dir` (created if missing), handing `visit` its records of sequence numbers
   * >= `doneBefore` in order, each with its payload. Segments holding only older records are deleted.
   */
  static async open(
    dir: string,
    doneBefore: number,
    init: JournalInit,
    visit: (record: JournalRecord, payload: Buffer) => void,
  ): Promise<SubmissionJournal> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const journal = new SubmissionJournal(dir, init);
    const firsts = (await readdir(dir))
      .map((name) => SEGMENT_NAME.exec(name)?.[1])
      .filter((first) => first !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    try {
      for (const [i, first] of firsts.entries()) {
        const handle = await open(join(dir, segmentName(first)), 'r+');
        const segment: Segment = { first, handle, size: 0, last: first - 1 };
        journal.segments.push(segment);
        await journal.scan(segment, i === firsts.length - 1, (record, payload) => {
          if (record.seq >= doneBefore) visit(record, payload);
        });
      }
    } catch (err) {
      await journal.close();
      throw err;
    }
    await journal.release(doneBefore);
    return journal;
  }

  /** Sequence number after the newest record (undefined when the journal is empty). */
  nextSeq(): number | undefined {
    const last = this.segments.at(-1);
    return last === undefined ? undefined : last.last + 1;
  }

  /** Appends a record and resolves once it is synced to disk. Sequence numbers must increase. */
  append(seq: number, payload: Uint8Array): Promise<JournalRecord> {
    if (this.closed) return Promise.reject(new StoppedError('the submission journal is closed'));
    if (payload.length > MAX_JOURNAL_PAYLOAD)
      return Promise.reject(new RangeError('queued record too large'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ seq, payload, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Reads a record's payload back. */
  async read(record: JournalRecord): Promise<Buffer> {
    const segment = this.segments.find((s) => s.first === record.segment);
    if (segment === undefined) throw new InternalError(`journal record ${record.seq} was released`);
    const out = Buffer.allocUnsafe(record.length);
    const { bytesRead } = await segment.handle.read(out, 0, record.length, record.offset);
    if (bytesRead !== record.length) throw new StoreCorruptError(`journal record ${record.seq} is truncated`);
    return out;
  }

  /**
   * Deletes the segments whose records all have sequence numbers below `doneBefore`; the newest one
   * too when no append is under way (the next append starts a new segment), so a journal whose records
   * are all done takes no disk space.
   */
  async release(doneBefore: number): Promise<void> {
    for (;;) {
      const oldest = this.segments[0];
      if (oldest === undefined || oldest.last >= doneBefore) return;
      const newest = this.segments.length === 1;
      if (newest && (this.flushing !== undefined || this.waiting.length > 0 || this.closed)) return;
      // Taken out of the list before any await: an append arriving meanwhile starts a new segment.
      this.segments.shift();
      await oldest.handle.close();
      await rm(join(this.dir, segmentName(oldest.first)), { force: true });
      log('released journal segment %d', oldest.first);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flushing;
    for (const segment of this.segments.splice(0)) await segment.handle.close();
  }

  /** Writes what waits, as one write and one sync; repeats while appends keep arriving. */
  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      const group = this.waiting.splice(0);
      try {
        const segment = await this.segmentFor(group[0]!.seq);
        const frames: Uint8Array[] = [];
        const records: JournalRecord[] = [];
        let offset = segment.size;
        let last = segment.last;
        for (const { seq, payload } of group) {
          if (seq <= last) throw new RangeError(`journal sequence ${seq} is not after ${last}`);
          frames.push(frameHeader(seq, payload), payload);
          records.push({ seq, segment: segment.first, offset: offset + HEADER, length: payload.length });
          offset += HEADER + payload.length;
          last = seq;
        }
        try {
          await writeAll(segment.handle, frames, segment.size);
          await segment.handle.datasync();
        } catch (err) {
          // Leave no partial frame behind for the next append to follow.
          await segment.handle.truncate(segment.size).catch(() => {});
          throw err;
        }
        segment.size = offset;
        segment.last = last;
        for (const [i, append] of group.entries()) append.resolve(records[i]!);
      } catch (err) {
        for (const append of group) append.reject(err);
      }
    }
    this.flushing = undefined;
  }

  /** The segment to append to, starting a new one (durably: the directory is synced) when full. */
  private async segmentFor(seq: number): Promise<Segment> {
    const current = this.segments.at(-1);
    if (current !== undefined && current.size < this.segmentBytes) return current;
    const handle = await open(join(this.dir, segmentName(seq)), 'wx+', 0o600);
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    const segment: Segment = { first: seq, handle, size: 0, last: seq - 1 };
    this.segments.push(segment);
    return segment;
  }

  /**
   * Reads a segment's records, checking each; cuts a torn tail of the last segment. Whole: segments
   * are bounded, and only those still holding pending records are left to read.
   */
  private async scan(
    segment: Segment,
    isLast: boolean,
    onRecord: (record: JournalRecord, payload: Buffer) => void,
  ): Promise<void> {
    const bytes = await segment.handle.readFile();
    let offset = 0;
    let bad: string | undefined;
    while (offset < bytes.length) {
      if (bytes.length - offset < HEADER) {
        bad = 'truncated header';
        break;
      }
      const length = bytes.readUInt32BE(offset);
      const seq = Number(bytes.readBigUInt64BE(offset + 4));
      if (length > MAX_JOURNAL_PAYLOAD || offset + HEADER + length > bytes.length) {
        bad = 'truncated record';
        break;
      }
      const payload = bytes.subarray(offset + HEADER, offset + HEADER + length);
      const crc = crc32(payload, crc32(bytes.subarray(offset + 4, offset + 12)));
      if (crc !== bytes.readUInt32BE(offset + 12)) {
        bad = 'checksum mismatch';
        break;
      }
      if (seq <= segment.last) {
        bad = `sequence ${seq} after ${segment.last}`;
        break;
      }
      onRecord({ seq, segment: segment.first, offset: offset + HEADER, length }, payload);
      segment.last = seq;
      offset += HEADER + length;
    }
    if (bad !== undefined) {
      if (!isLast) {
        throw new StoreCorruptError(
          `submission journal segment ${segmentName(segment.first)} is damaged at byte ${offset}: ${bad}`,
        );
      }
      // Never acknowledged: an append is answered only after its sync completed.
      log.error(
        'cutting %d bytes of an interrupted append from the journal (%s)',
        bytes.length - offset,
        bad,
      );
      await segment.handle.truncate(offset);
      await segment.handle.datasync();
    }
    segment.size = offset;
  }
}

function segmentName(first: number): string {
  return `${String(first).padStart(16, '0')}.journal`;
}

function frameHeader(seq: number, payload: Uint8Array): Buffer {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32BE(payload.length, 0);
  header.writeBigUInt64BE(BigInt(seq), 4);
  header.writeUInt32BE(crc32(payload, crc32(header.subarray(4, 12))), 12);
  return header;
}

async function writeAll(handle: FileHandle, frames: Uint8Array[], position: number): Promise<void> {
  let pending = frames;
  let at = position;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending, at);
    at += bytesWritten;
    pending = dropBytes(pending, bytesWritten);
  }
}

/** The frames left after `n` bytes were written (writev may write less than asked). */
function dropBytes(frames: Uint8Array[], n: number): Uint8Array[] {
  let left = n;
  const out: Uint8Array[] = [];
  for (const frame of frames) {
    if (left >= frame.length) left -= frame.length;
    else {
      out.push(left > 0 ? frame.subarray(left) : frame);
      left = 0;
    }
  }
  return out;
}
