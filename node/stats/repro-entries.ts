/**
 * The entries the reproducibility statistics index (node/stats/repro-stats.ts), with their digests (the first
 * DIGEST_BYTES of their leaf hashes): read from a log's verified local copy, or taken from the verified
 * bundles a sync has just stored, while they are still in memory. Either way nothing is hashed: the
 * leaf hashes are the level-0 tile next to each bundle, already computed and verified.
 */
import { HASH_SIZE, TILE_WIDTH } from '../../protocol/constants.ts';
import { decodeEntryBundle } from '../../protocol/entry-bundle.ts';
import { StoreCorruptError } from '../errors.ts';
import type { LogStore } from '../store/log-store.ts';
import type { VerifiedBundle } from '../sync/sync-stage.ts';
import { DIGEST_BYTES } from './repro-record.ts';

const decoder = new TextDecoder();

/** Entries of a log, in order, with their digests (latin1 strings of DIGEST_BYTES). */
export interface ChunkEntries {
  readonly entries: Uint8Array[];
  readonly digests: string[];
}

/** Entries [from, to) of a log's verified copy, read bundle by bundle. */
export async function readEntries(store: LogStore, from: number, to: number): Promise<ChunkEntries> {
  const chunk: ChunkEntries = { entries: [], digests: [] };
  for (let b = Math.floor(from / TILE_WIDTH); b * TILE_WIDTH < to; b++) {
    const width = Math.min(TILE_WIDTH, store.size - b * TILE_WIDTH);
    const [bytes, hashes] = await Promise.all([
      store.readTile({ kind: 'entries', index: b, width }),
      store.readTile({ kind: 'hash', level: 0, index: b, width }),
    ]);
    if (bytes === undefined || hashes === undefined)
      throw new StoreCorruptError(`entry bundle or tile ${b} of ${store.logId} is missing`);
    const start = Math.max(from - b * TILE_WIDTH, 0);
    const end = Math.min(to - b * TILE_WIDTH, width);
    take(chunk, decodeEntryBundle(bytes, width), hashes, start, end);
  }
  return chunk;
}

/**
 * The entries of a sync's stored step (contiguous verified bundles) from position `from` of the log on,
 * with the position after the last; undefined unless `from` lies within what the step brought (from
 * its first new entry to its end): an earlier `from` leaves a gap the step cannot fill.
 */
export function entriesOfBundles(
  bundles: readonly VerifiedBundle[],
  from: number,
): (ChunkEntries & { readonly to: number }) | undefined {
  const first = bundles[0];
  const last = bundles.at(-1);
  if (first === undefined || last === undefined) return undefined;
  const to = last.index * TILE_WIDTH + last.hashParts.length;
  if (from < first.index * TILE_WIDTH + first.firstNew || from >= to) return undefined;
  const chunk = { entries: [], digests: [], to };
  for (const b of bundles) {
    const width = b.hashParts.length;
    const start = Math.max(from - b.index * TILE_WIDTH, b.firstNew);
    if (start < width) take(chunk, decodeEntryBundle(b.bundle, width), b.tile.data, start, width);
  }
  return chunk;
}

/** Adds entries [start, end) of a bundle and their digests from its leaf hashes. */
function take(
  chunk: ChunkEntries,
  entries: readonly Uint8Array[],
  leafHashes: Uint8Array,
  start: number,
  end: number,
): void {
  const leaves = Buffer.from(leafHashes.buffer, leafHashes.byteOffset, leafHashes.byteLength);
  for (let i = start; i < end; i++) {
    chunk.entries.push(entries[i]!);
    chunk.digests.push(leaves.toString('latin1', i * HASH_SIZE, i * HASH_SIZE + DIGEST_BYTES));
  }
}

/** The store path an entry names (`1;<path>;...`); the entry was verified at sync. */
export function pathOfEntry(entry: Uint8Array): string {
  return decoder.decode(entry.subarray(2, entry.indexOf(0x3b, 2)));
}

/** The hash part of the store path an entry names: the 32 characters after the path's last '/'. */
export function hashPartOfEntry(entry: Uint8Array): string {
  const end = entry.indexOf(0x3b, 2);
  const slash = entry.lastIndexOf(0x2f, end);
  return Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength).toString(
    'latin1',
    slash + 1,
    slash + 33,
  );
}
