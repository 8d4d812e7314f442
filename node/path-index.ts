/**
 * The path index as the sequencer maintains it: which entries of a batch the log does not hold yet
 * (the same fingerprint for a path is appended once; another fingerprint for a path is a rebuild and
 * is appended), and the index records that gain entries. One record per store path hash
 * (node/layout.ts), read for a whole batch in one sorted getMany.
 */
import type { BatchOp, Database } from './database.ts';
import { decodeIndexList, encodeIndexList } from './layout.ts';
import type { LogStore } from './log-store.ts';

const decoder = new TextDecoder();

/** The hash part of an entry validated earlier (`1;<storeDir>/<hash32>-…`): no parsing on the hot path. */
function hashPartOf(storeDir: string, entry: string): string {
  const start = 2 + storeDir.length + 1;
  return entry.slice(start, start + 32);
}

/**
 * The entries that neither the log nor an earlier entry of the batch holds, in order, and the log's
 * entry indices of the store paths of the batch that it already holds.
 */
export async function newEntries(
  db: Database,
  store: LogStore,
  storeDir: string,
  entries: readonly string[],
): Promise<{ fresh: string[]; indexed: Map<string, number[]> }> {
  const indexed = new Map<string, number[]>();
  if (entries.length === 0) return { fresh: [], indexed };
  const hashParts = entries.map((e) => hashPartOf(storeDir, e));
  // In key order: LevelDB then walks its blocks in order (1.3 to 2.5 times faster for 20,000 lookups here).
  const keyed = [...new Set(hashParts)].map((h) => ({ h, key: store.pathIndexKey(h) }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  const records = await db.getMany(keyed.map((k) => k.key));
  // Entries held per store path: by the log, then by this batch. Nearly every path is new, so the
  // common case is one string per path, not a set.
  const known = new Map<string, string | Set<string>>();
  for (let i = 0; i < keyed.length; i++) {
    const record = records[i];
    if (record === undefined) continue;
    const indices = decodeIndexList(record);
    indexed.set(keyed[i]!.h, indices);
    const seen = new Set<string>();
    for (const index of indices) {
      const entry = await store.entry(index);
      if (entry !== undefined) seen.add(decoder.decode(entry));
    }
    known.set(keyed[i]!.h, seen);
  }
  const fresh: string[] = [];
  entries.forEach((entry, i) => {
    const h = hashParts[i]!;
    const seen = known.get(h);
    if (seen === undefined) known.set(h, entry);
    else if (typeof seen === 'string') {
      if (seen === entry) return;
      known.set(h, new Set([seen, entry]));
    } else {
      if (seen.has(entry)) return;
      seen.add(entry);
    }
    fresh.push(entry);
  });
  return { fresh, indexed };
}

/** Puts of the path index records that gain entries (appended at `oldSize`); `indexed` holds what the log had. */
export function pathIndexOps(
  store: LogStore,
  storeDir: string,
  oldSize: number,
  entries: readonly string[],
  indexed: ReadonlyMap<string, number[]>,
): BatchOp[] {
  const added = new Map<string, number[]>();
  entries.forEach((e, i) => {
    const h = hashPartOf(storeDir, e);
    const list = added.get(h);
    if (list === undefined) added.set(h, [...(indexed.get(h) ?? []), oldSize + i]);
    else list.push(oldSize + i);
  });
  const ops: BatchOp[] = [];
  for (const [h, indices] of added)
    ops.push({ type: 'put', key: store.pathIndexKey(h), value: encodeIndexList(indices) });
  return ops;
}
