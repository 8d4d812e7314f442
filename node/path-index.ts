/**
 * The path index as the sequencer maintains it: which entries of a batch the log does not hold yet
 * (the same fingerprint for a path is appended once; another fingerprint for a path is a rebuild and
 * is appended), and the index records that gain entries. One record per store path hash
 * (node/layout.ts), read for a whole batch in one sorted getMany.
 *
 * Entries arrive as bytes (views of queued records) validated at submission, so the hash part is at a
 * fixed offset: `1;<storeDir>/<hash32>-…`. Nothing here decodes a whole entry.
 */
import type { BatchOp, Database } from './database.ts';
import { decodeIndexList, encodeIndexList } from './layout.ts';
import type { LogStore } from './log-store.ts';

/** One store path of a batch: its index key and the entries the log held for it before the batch. */
interface PathRecord {
  readonly key: Uint8Array;
  readonly held: number[];
  /** Entries of the path held by the log or taken earlier in the batch (one, nearly always). */
  readonly seen: Uint8Array[];
  /** Positions (in the batch's fresh entries) of the path's new entries. */
  readonly added: number[];
  /** Whether `held` and `seen` are known already (from the batch in flight). */
  readonly known: boolean;
}

/** What `newEntries` decided for a batch; `pathIndexOps` turns it into index writes. */
export interface BatchPaths {
  /** The entries to append, in order. */
  readonly fresh: Buffer[];
  readonly records: ReadonlyMap<string, PathRecord>;
}

/**
 * The path records a batch wrote, as they stand after it: read by the next batch instead of the store
 * while the batch is still being written.
 */
export interface PathsInFlight {
  readonly batch: BatchPaths;
  readonly records: ReadonlyMap<
    string,
    { readonly indices: readonly number[]; readonly seen: readonly Uint8Array[] }
  >;
}

/** The records of `paths` that gained entries (appended at `oldSize`), as they stand after the batch. */
export function pathsAfter(oldSize: number, paths: BatchPaths): PathsInFlight {
  const records = new Map<string, { indices: number[]; seen: Uint8Array[] }>();
  for (const [h, record] of paths.records) {
    if (record.added.length === 0) continue;
    records.set(h, { indices: indicesAfter(oldSize, record), seen: record.seen });
  }
  return { batch: paths, records };
}

/**
 * The entries that neither the log nor an earlier entry of the batch holds, in order, with the path
 * records they touch. Paths that the batch in flight (`inFlight`) wrote are taken from it, not the store.
 */
export async function newEntries(
  db: Database,
  store: LogStore,
  storeDir: string,
  entries: readonly Buffer[],
  inFlight?: PathsInFlight,
): Promise<BatchPaths> {
  const hashStart = 2 + storeDir.length + 1;
  const records = new Map<string, PathRecord>();
  const hashParts: string[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const h = entry.toString('latin1', hashStart, hashStart + 32);
    hashParts[i] = h;
    if (records.has(h)) continue;
    const written = inFlight?.records.get(h);
    records.set(h, {
      key: store.pathIndexKey(h),
      held: written === undefined ? [] : [...written.indices],
      seen: written === undefined ? [] : [...written.seen],
      added: [],
      known: written !== undefined,
    });
  }
  // In key order: LevelDB then walks its blocks in order (1.3 to 2.5 times faster for 20,000 lookups
  // here). Compared as latin1 strings: a JS sort, not 300,000 calls into Buffer.compare.
  const toRead = [...records.values()].filter((r) => !r.known);
  const byKey = toRead.map((r) => ({
    r,
    order: Buffer.from(r.key.buffer, r.key.byteOffset, r.key.byteLength).toString('latin1'),
  }));
  byKey.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  const stored = await db.getMany(byKey.map((k) => k.r.key));
  for (let i = 0; i < byKey.length; i++) {
    const value = stored[i];
    if (value === undefined) continue;
    const record = byKey[i]!.r;
    for (const index of decodeIndexList(value)) {
      record.held.push(index);
      const entry = await store.entry(index);
      if (entry !== undefined) record.seen.push(entry);
    }
  }
  const fresh: Buffer[] = [];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const record = records.get(hashParts[i]!)!;
    if (record.seen.some((e) => entry.equals(e))) continue;
    record.seen.push(entry);
    record.added.push(fresh.length);
    fresh.push(entry);
  }
  return { fresh, records };
}

/** Puts of the path index records that gain entries, the batch's fresh entries being appended at `oldSize`. */
export function pathIndexOps(oldSize: number, paths: BatchPaths): BatchOp[] {
  const ops: BatchOp[] = [];
  for (const record of paths.records.values()) {
    if (record.added.length === 0) continue;
    ops.push({ type: 'put', key: record.key, value: encodeIndexList(indicesAfter(oldSize, record)) });
  }
  return ops;
}

function indicesAfter(oldSize: number, record: PathRecord): number[] {
  return record.held.concat(record.added.map((i) => oldSize + i));
}
