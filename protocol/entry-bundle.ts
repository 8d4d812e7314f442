/**
 * C2SP tlog-tiles entry bundles: the entries of one level-0 tile, each prefixed by its length.
 *
 *   bundle = entry*      entry = uint16 big-endian length || bytes      (1..256 entries)
 *
 * Entry i of bundle N is leaf N * 256 + i; its leaf hash is hash i of level-0 tile N.
 */
import { MAX_ENTRY_BYTES, TILE_WIDTH } from './constants.ts';
import { MalformedError, OutOfRangeError, TooLargeError } from './errors.ts';

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > TILE_WIDTH)
    throw new OutOfRangeError(`an entry bundle holds 1 to ${TILE_WIDTH} entries, not ${count}`);
}

/** Encodes 1..256 entries of at most MAX_ENTRY_BYTES each (TooLargeError('entry') otherwise). */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  return encodeEntryBundleInto(entries, new Uint8Array(entryBundleSize(entries)), 0);
}

/** Bytes of the bundle of `entries` (validated as encodeEntryBundle does). */
export function entryBundleSize(entries: readonly Uint8Array[]): number {
  checkCount(entries.length);
  let total = 0;
  for (const e of entries) {
    if (e.length > MAX_ENTRY_BYTES) throw new TooLargeError('entry', e.length, MAX_ENTRY_BYTES);
    total += 2 + e.length;
  }
  return total;
}

/**
 * Encodes the bundle of `entries` into `out` at `offset` and returns it as a view of `out`: a
 * sequencer reuses one buffer for a batch's bundles instead of allocating each.
 */
export function encodeEntryBundleInto(
  entries: readonly Uint8Array[],
  out: Uint8Array,
  offset: number,
): Uint8Array {
  const size = entryBundleSize(entries);
  if (offset + size > out.length) throw new RangeError('entry bundle does not fit the buffer');
  let pos = offset;
  for (const e of entries) {
    out[pos] = e.length >>> 8;
    out[pos + 1] = e.length & 0xff;
    out.set(e, pos + 2);
    pos += 2 + e.length;
  }
  return out.subarray(offset, pos);
}

/**
 * Decodes a bundle that must hold exactly `expectedCount` entries (the tile width) and nothing after them.
 * Entries are views into `bytes`. Throws TooLargeError before reading a body longer than any such bundle,
 * MalformedError on truncation, trailing bytes or another count.
 */
export function decodeEntryBundle(bytes: Uint8Array, expectedCount: number): Uint8Array[] {
  checkCount(expectedCount);
  const limit = expectedCount * (2 + MAX_ENTRY_BYTES);
  if (bytes.length > limit) throw new TooLargeError('entry bundle', bytes.length, limit);
  const entries: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (entries.length === expectedCount)
      throw new MalformedError('entry bundle', `${bytes.length - pos} bytes after ${expectedCount} entries`);
    if (pos + 2 > bytes.length) throw new MalformedError('entry bundle', 'truncated length prefix');
    const length = bytes[pos]! * 256 + bytes[pos + 1]!;
    pos += 2;
    if (pos + length > bytes.length)
      throw new MalformedError('entry bundle', `entry ${entries.length} is truncated`);
    entries.push(bytes.subarray(pos, pos + length));
    pos += length;
  }
  if (entries.length !== expectedCount)
    throw new MalformedError('entry bundle', `${entries.length} entries, expected ${expectedCount}`);
  return entries;
}
