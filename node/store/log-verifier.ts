/**
 * Full verification of a stored log, from nothing but its bytes: every entry parses, every entry bundle
 * hashes to its level-0 tile, every stored tile equals the tile recomputed from the entries, the tree
 * hashes to the checkpoint's root, the checkpoint verifies with the log key, and every entry is found
 * through the path index. O(n) reads: this is `trustix verify`, not something a request path runs.
 */
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import { TILE_WIDTH } from '../../protocol/constants.ts';
import { parseEntry } from '../../protocol/entry.ts';
import { decodeEntryBundle } from '../../protocol/entry-bundle.ts';
import { leafHash } from '../../protocol/merkle.ts';
import { DEFAULT_STORE_DIR, parseStorePath } from '../../protocol/store-path.ts';
import { appendLeaves, edgeAfter } from '../../protocol/tile-edge.ts';
import { edgeTiles, type TileData } from '../../protocol/tiles.ts';
import { StoreCorruptError } from '../errors.ts';
import { MAX_PATH_ENTRIES } from './layout.ts';
import type { LogStore } from './log-store.ts';

export interface VerifyProgress {
  readonly verified: number;
  readonly size: number;
}

export interface VerifyReport {
  readonly logId: string;
  readonly size: number;
  /** Hash tiles compared with their recomputation. */
  readonly tiles: number;
  readonly entries: number;
}

/**
 * Recomputes the whole log in `store` and compares it with what is stored and signed. Throws
 * StoreCorruptError naming the first difference. `storeDir` is the store directory entries must use.
 */
export async function verifyLog(
  store: LogStore,
  options: { storeDir?: string; onProgress?: (p: VerifyProgress) => void; signal?: AbortSignal } = {},
): Promise<VerifyReport> {
  const checkpoint = store.checkpoint();
  const size = checkpoint?.size ?? 0;
  if (checkpoint !== undefined) {
    try {
      openCheckpoint(checkpoint.note, store.key.verifier);
    } catch (cause) {
      throw new StoreCorruptError(`checkpoint of ${store.logId} does not verify`, { cause });
    }
  }
  let edge: TileData[] = [];
  let done = 0;
  let tiles = 0;
  const storeDir = options.storeDir ?? DEFAULT_STORE_DIR;
  while (done < size) {
    options.signal?.throwIfAborted();
    const index = done / TILE_WIDTH;
    const width = Math.min(TILE_WIDTH, size - done);
    const bundle = await store.readTile({ kind: 'entries', index, width });
    if (bundle === undefined)
      throw new StoreCorruptError(`entry bundle ${index} of ${store.logId} is missing`);
    const entries = decodeEntryBundle(bundle, width);
    for (const [i, entry] of entries.entries()) {
      let hashPart: string;
      try {
        hashPart = parseStorePath(parseEntry(entry, storeDir).storePath, storeDir).hashPart;
      } catch (cause) {
        throw new StoreCorruptError(`entry ${done + i} of ${store.logId} is not a valid entry`, { cause });
      }
      // A record lists at most MAX_PATH_ENTRIES + 1 indices: the entries after those are not indexed.
      const indices = await store.indicesForPath(hashPart);
      const beyondCap = indices.length > MAX_PATH_ENTRIES && done + i > indices[indices.length - 1]!;
      if (!beyondCap && !indices.includes(done + i))
        throw new StoreCorruptError(`entry ${done + i} of ${store.logId} is missing from the path index`);
    }
    const appended = appendLeaves(done, edge, entries.map(leafHash));
    for (const t of appended.tiles) {
      // Compare only the tiles as they stand at the final size (intermediate partial ones are gone).
      const final = t.tile.width === TILE_WIDTH || isEdgeAt(t, size);
      if (!final) continue;
      const stored = await store.readTile(t.tile);
      if (stored === undefined || !Buffer.from(stored).equals(t.data))
        throw new StoreCorruptError(
          `hash tile ${t.tile.level}/${t.tile.index} of ${store.logId} differs from its entries`,
        );
      tiles++;
    }
    edge = edgeAfter(edge, appended.tiles, appended.size);
    if (!Buffer.from(appended.root).equals(Buffer.from(await store.rootAt(appended.size)))) {
      throw new StoreCorruptError(`root of ${store.logId} at size ${appended.size} differs`);
    }
    done = appended.size;
    options.onProgress?.({ verified: done, size });
  }
  if (checkpoint !== undefined && done === size) {
    const root = await store.rootAt(size);
    if (!Buffer.from(root).equals(Buffer.from(checkpoint.root)))
      throw new StoreCorruptError(`tiles of ${store.logId} do not hash to its checkpoint`);
  }
  return { logId: store.logId, size, tiles, entries: size };
}

function isEdgeAt(t: TileData, size: number): boolean {
  return edgeTiles(size).some(
    (e) => e.level === t.tile.level && e.index === t.tile.index && e.width === t.tile.width,
  );
}
