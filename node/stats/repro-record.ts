/**
 * What the followed logs said about one store path, as the reproducibility statistics keep it, and the
 * verdict it gives (modelled on `guix challenge`):
 *
 *   reproducible   at least two logs hold the path and all of them hold the same single fingerprint
 *   mismatch       at least two logs hold the path and they disagree (or one holds two fingerprints)
 *   inconclusive   fewer than two logs hold it
 *
 * Record bytes (`repro!p!<hash20>`, node/store/layout.ts): a list of 18-byte items, one per distinct
 * (log, fingerprint) pair, in the order they were indexed:
 *
 *   u16be log number || first 16 bytes of the entry's leaf hash, SHA-256(0x00 || fingerprint)
 *
 * A 128-bit digest stands in for the fingerprint: equal digests mean equal fingerprints for any input
 * a builder can produce, and the record stays small. The leaf hash is already in the log's level-0
 * tiles, verified. Who said what exactly is read from the logs.
 */
import { encodeNix32 } from '../../protocol/nix32.ts';
import { StoreCorruptError } from '../errors.ts';
import { MAX_PATH_ENTRIES, pathHashOfReproKey } from '../store/layout.ts';

export type Verdict = 'reproducible' | 'mismatch' | 'inconclusive';

const ITEM = 18;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Bytes of a digest: the first 16 of the leaf hash. */
export const DIGEST_BYTES = 16;
const DIGEST = DIGEST_BYTES;

export interface RecordItem {
  readonly log: number;
  /** The 16-byte digest as a latin1 string: one character per byte, cheap to compare and to make. */
  readonly digest: string;
}

export function decodeRecord(bytes: Uint8Array | undefined): RecordItem[] {
  if (bytes === undefined) return [];
  if (bytes.length % ITEM !== 0) throw new StoreCorruptError('a reproducibility record is damaged');
  const out: RecordItem[] = [];
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < buf.length; i += ITEM)
    out.push({ log: buf.readUInt16BE(i), digest: buf.toString('latin1', i + 2, i + ITEM) });
  return out;
}

export function encodeRecord(items: readonly RecordItem[]): Uint8Array {
  const buf = Buffer.allocUnsafe(items.length * ITEM);
  items.forEach((item, i) => {
    buf.writeUInt16BE(item.log, i * ITEM);
    buf.write(item.digest, i * ITEM + 2, DIGEST, 'latin1');
  });
  return buf;
}

/** The digests each log holds, by log number. */
export function digestsByLog(items: readonly RecordItem[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const { log, digest } of items) {
    const list = out.get(log);
    if (list === undefined) out.set(log, [digest]);
    else list.push(digest);
  }
  return out;
}

export function verdictOf(byLog: ReadonlyMap<number, readonly string[]>): Verdict {
  if (byLog.size < 2) return 'inconclusive';
  let value: string | undefined;
  for (const digests of byLog.values()) {
    if (digests.length !== 1) return 'mismatch';
    if (value === undefined) value = digests[0];
    else if (digests[0] !== value) return 'mismatch';
  }
  return 'reproducible';
}

/** Whether two logs agree on a path they both hold: each holds exactly the same single value. */
export function pairAgrees(a: readonly string[], b: readonly string[]): boolean {
  return a.length === 1 && b.length === 1 && a[0] === b[0];
}

/** The counters record (`repro!c`), JSON. */
export interface Counters {
  readonly paths: Record<Verdict, number>;
  /** By log number: entries indexed, distinct paths held. */
  readonly logs: Record<string, { entries: number; paths: number }>;
  /** By "a,b" (log numbers, a < b): [paths both hold, paths they agree on]. */
  readonly pairs: Record<string, [number, number]>;
  /** By UTC day "YYYY-MM-DD": [reproducible, mismatching] paths at the end of that day (as indexed). */
  readonly daily: Record<string, [number, number]>;
}

/** `u16be count || u16be log numbers || store path`: what the mismatch list shows without reading logs. */
export function encodeMismatch(logs: readonly number[], path: string): Uint8Array {
  const p = encoder.encode(path);
  const out = Buffer.allocUnsafe(2 + 2 * logs.length + p.length);
  out.writeUInt16BE(logs.length, 0);
  logs.forEach((n, i) => {
    out.writeUInt16BE(n, 2 + 2 * i);
  });
  out.set(p, 2 + 2 * logs.length);
  return out;
}

export function decodeMismatch(
  key: Uint8Array,
  value: Uint8Array,
): { hashPart: string; logs: number[]; path: string } {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const count = buf.readUInt16BE(0);
  const logs = Array.from({ length: count }, (_, i) => buf.readUInt16BE(2 + 2 * i));
  return {
    hashPart: encodeNix32(pathHashOfReproKey(key)),
    logs,
    path: decoder.decode(buf.subarray(2 + 2 * count)),
  };
}

/** What adding one log's values for a path changes in the statistics. */
export interface RecordChange {
  /** The new record bytes. */
  readonly record: Uint8Array;
  /** The verdict before (undefined: no log held the path) and after. */
  readonly before: Verdict | undefined;
  readonly after: Verdict;
  /** The log did not hold the path before. */
  readonly newForLog: boolean;
  /** For every other log holding the path: [its number, change of "shared", change of "agree"]. */
  readonly pairs: readonly (readonly [number, number, number])[];
  /** Every log holding the path afterwards. */
  readonly logs: readonly number[];
}

/**
 * Adds log `n`'s `digests` for a path to its stored record; undefined when the record already holds
 * them all (nothing changes).
 */
export function addToRecord(
  stored: Uint8Array | undefined,
  n: number,
  digests: readonly string[],
): RecordChange | undefined {
  const items = decodeRecord(stored);
  // Linear in the record and the digests: a hostile log may hold thousands of values for one path. It
  // keeps at most MAX_PATH_ENTRIES + 1 of them (any two already make the path a mismatch).
  const known = new Set<string>();
  for (const item of items) if (item.log === n) known.add(item.digest);
  const added: RecordItem[] = [];
  for (const digest of digests) {
    if (known.size > MAX_PATH_ENTRIES) break;
    if (known.has(digest)) continue;
    known.add(digest);
    added.push({ log: n, digest });
  }
  if (added.length === 0) return undefined;
  const all = items.length === 0 ? added : [...items, ...added];
  const record = encodeRecord(all);
  // The common case: the first log to hold the path.
  if (items.length === 0)
    return { record, before: undefined, after: 'inconclusive', newForLog: true, pairs: [], logs: [n] };
  const before = digestsByLog(items);
  const after = digestsByLog(all);
  const was = before.get(n);
  const now = after.get(n)!;
  const pairs: (readonly [number, number, number])[] = [];
  for (const [m, theirs] of after) {
    if (m === n) continue;
    const shared = was === undefined ? 1 : 0;
    const agree =
      (pairAgrees(now, theirs) ? 1 : 0) - (was !== undefined && pairAgrees(was, before.get(m) ?? []) ? 1 : 0);
    pairs.push([m, shared, agree]);
  }
  return {
    record,
    before: verdictOf(before),
    after: verdictOf(after),
    newForLog: was === undefined,
    pairs,
    logs: [...after.keys()],
  };
}
