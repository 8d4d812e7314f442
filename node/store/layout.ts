/**
 * The storage key layout: every key the node writes to its LevelDB, built here and nowhere else.
 *
 * One LevelDB per data directory. Keys are bytes; values are bytes unless noted.
 *
 *   meta!version                          -> "1"
 *   meta!own-log                          -> the log ID (hex) of the node's own log: the key it was started
 *                                            with (a replaced log.secret is refused, node/own-log/own-log.ts)
 *   log!<logId hex>!c                     -> latest checkpoint note bytes (the log's head)
 *   log!<logId hex>!t<L u8><N u64be>      -> hash tile L/N at its widest stored width (32-byte hashes)
 *   log!<logId hex>!e<N u64be>            -> entry bundle N at its widest stored width
 *   log!<logId hex>!p<hash20>             -> u64be entry indices, ascending (store path hash -> entries)
 *   !libp2p!…                             libp2p's datastore, a sublevel (peer store, DHT records; node/network/libp2p-node.ts)
 *   queue!<seq u64be>                     -> a queued request held back for a retry (or queued by an older
 *                                            version): lines, see node/own-log/submission-queue.ts; new requests
 *                                            wait in the journal files of <data dir>/queue/
 *   meta!queue-done                       -> u64be: journal records below this sequence number are done
 *   mon!s!<logId hex>                     -> checkpoint monitor: state of a log seen in gossip (JSON, see
 *                                            node/monitor/checkpoint-records.ts)
 *   mon!h!<logId hex>!<size u64be>        -> checkpoint monitor: a checkpoint of that size (flags, root, note)
 *   mon!e!<logId hex>                     -> checkpoint monitor: the log's fork evidence document
 *   log!<logId hex>!s                     -> follower sync in progress (node/sync/log-sync.ts): u64be count of
 *                                            leaves staged beyond the checkpoint (whole entry bundles with
 *                                            their level-0 tiles and path index records), then the signed
 *                                            target checkpoint note they were verified against
 *   log!<logId hex>!b                     -> u64be bytes of the followed log's stored entry bundles (2 + length
 *                                            per entry, staged ones included): its byte quota (node/sync/log-quota.ts)
 *   follow!<logId hex>                    -> a followed log: JSON {"vkey","name","weight"} (node/store/followed-logs.ts)
 *   repro!c                               -> reproducibility counters: JSON (node/stats/repro-stats.ts)
 *   repro!l!<logId hex>                   -> a log in the statistics: JSON {"n","indexed"} (its small number,
 *                                            entries indexed so far)
 *   repro!p!<hash20>                      -> what the logs said about one store path: (u16be n, 16-byte
 *                                            fingerprint digest) pairs (node/stats/repro-record.ts)
 *   repro!m!<hash20>                      -> a mismatching path: u16be count, u16be log numbers, store path
 *
 * Big-endian integers keep LevelDB's byte order equal to numeric order, so range reads return
 * tiles and the queue in order. The path index is one key per store path (not per entry) so that the
 * sequencer's duplicate check for a whole batch is one getMany, not one iterator per entry.
 */

const encoder = new TextEncoder();

export const FORMAT_VERSION = '1';
export const META_VERSION_KEY = encoder.encode('meta!version');
export const QUEUE_PREFIX = encoder.encode('queue!');
export const QUEUE_DONE_KEY = encoder.encode('meta!queue-done');
export const OWN_LOG_KEY = encoder.encode('meta!own-log');

const CHECKPOINT = 0x63; // 'c'
const TILE = 0x74; // 't'
const ENTRIES = 0x65; // 'e'
const PATH = 0x70; // 'p'

/** The key prefix under which everything of one log lives. */
export function logPrefix(logId: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(logId)) throw new TypeError(`not a log ID: ${logId}`);
  return encoder.encode(`log!${logId}!`);
}

export function checkpointKey(prefix: Uint8Array): Uint8Array {
  return withTag(prefix, CHECKPOINT, 0);
}

export function tileKey(prefix: Uint8Array, level: number, index: number): Uint8Array {
  const key = withTag(prefix, TILE, 9);
  key[prefix.length + 1] = level;
  writeU64(key, key.length - 8, index);
  return key;
}

export function entryBundleKey(prefix: Uint8Array, index: number): Uint8Array {
  const key = withTag(prefix, ENTRIES, 8);
  writeU64(key, key.length - 8, index);
  return key;
}

/** Key of the path index record of one store path; `pathHash` is the 20 raw bytes of its nix32 hash part. */
export function pathIndexKey(prefix: Uint8Array, pathHash: Uint8Array): Uint8Array {
  if (pathHash.length !== 20) throw new TypeError('a store path hash has 20 bytes');
  const key = withTag(prefix, PATH, 20);
  key.set(pathHash, prefix.length + 1);
  return key;
}

/**
 * Most entries of one log for one store path that the node takes in (rebuilds of a path are rare; a
 * hostile log may hold any number). A followed log's path index record lists at most
 * MAX_PATH_ENTRIES + 1 indices: that many means "more than MAX_PATH_ENTRIES", the log abstains on the
 * path (node/vote/decisions.ts), and the record is never rewritten again, so each record stays under
 * 520 bytes. Records written before the cap (any length) are read through their first
 * MAX_PATH_ENTRIES + 1 indices: same format, no migration.
 */
export const MAX_PATH_ENTRIES = 64;

/** Decodes a path index record: the entry indices of one store path (at most `max`, the first ones). */
export function decodeIndexList(value: Uint8Array, max = Number.POSITIVE_INFINITY): number[] {
  if (value.length % 8 !== 0) throw new RangeError('path index record is not a list of u64');
  const out: number[] = [];
  for (let i = 0; i < value.length && out.length < max; i += 8) out.push(readU64(value, i));
  return out;
}

/** Encodes entry indices for a path index record. */
export function encodeIndexList(indices: readonly number[]): Uint8Array {
  const out = new Uint8Array(indices.length * 8);
  indices.forEach((index, i) => {
    writeU64(out, i * 8, index);
  });
  return out;
}

export function queueKey(seq: number): Uint8Array {
  const key = new Uint8Array(QUEUE_PREFIX.length + 8);
  key.set(QUEUE_PREFIX);
  writeU64(key, QUEUE_PREFIX.length, seq);
  return key;
}

export function queueRange(): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: QUEUE_PREFIX, lt: successor(QUEUE_PREFIX) };
}

export function seqOfQueueKey(key: Uint8Array): number {
  return readU64(key, key.length - 8);
}

export function encodeQueueDone(seq: number): Uint8Array {
  const out = new Uint8Array(8);
  writeU64(out, 0, seq);
  return out;
}

export function decodeQueueDone(value: Uint8Array): number {
  if (value.length !== 8) throw new RangeError('malformed queue marker');
  return readU64(value, 0);
}

/** The range of every key of one log (for removal). */
export function logRange(prefix: Uint8Array): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: prefix, lt: successor(prefix) };
}

/** `prefix`, then the one-byte `tag`, then `reserve` zero bytes for the caller to fill. */
function withTag(prefix: Uint8Array, tag: number, reserve: number): Uint8Array {
  // allocUnsafe draws small keys from Node's pool: far cheaper than a fresh typed array each.
  const out = Buffer.allocUnsafe(prefix.length + 1 + reserve).fill(0, prefix.length);
  out.set(prefix);
  out[prefix.length] = tag;
  return out;
}

/** The smallest key greater than every key that starts with `prefix`. */
function successor(prefix: Uint8Array): Uint8Array {
  const out = Uint8Array.from(prefix);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]! += 1;
      return out.subarray(0, i + 1);
    }
  }
  throw new RangeError('no successor of an all-0xff prefix');
}

// Big-endian u64 by arithmetic: values are safe integers, and this is on the sequencer's hot path.
function writeU64(buf: Uint8Array, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a u64 index: ${value}`);
  let high = Math.floor(value / 0x1_0000_0000);
  let low = value % 0x1_0000_0000;
  for (let i = 3; i >= 0; i--) {
    buf[offset + i] = high % 256;
    buf[offset + 4 + i] = low % 256;
    high = Math.floor(high / 256);
    low = Math.floor(low / 256);
  }
}

function readU64(buf: Uint8Array, offset: number): number {
  let high = 0;
  let low = 0;
  for (let i = 0; i < 4; i++) {
    high = high * 256 + buf[offset + i]!;
    low = low * 256 + buf[offset + 4 + i]!;
  }
  const value = high * 0x1_0000_0000 + low;
  if (!Number.isSafeInteger(value)) throw new RangeError('stored u64 beyond 2^53');
  return value;
}

// ---- checkpoint monitor (node/monitor/checkpoint-monitor.ts) ---------------------------------------------------
// Separate prefixes for states, history and evidence: start-up reads every state and listing reads every
// evidence document with one range each, never walking the (larger) history.

const MONITOR_STATE_PREFIX = encoder.encode('mon!s!');
const MONITOR_EVIDENCE_PREFIX = encoder.encode('mon!e!');

function checkLogId(logId: string): void {
  if (!/^[0-9a-f]{64}$/.test(logId)) throw new TypeError(`not a log ID: ${logId}`);
}

export function monitorStateKey(logId: string): Uint8Array {
  checkLogId(logId);
  return encoder.encode(`mon!s!${logId}`);
}

export function monitorStateRange(): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: MONITOR_STATE_PREFIX, lt: successor(MONITOR_STATE_PREFIX) };
}

/** The log ID in a monitor state key (or evidence key: both end in the 64 hex digits). */
export function logIdOfMonitorKey(key: Uint8Array): string {
  return new TextDecoder().decode(key.subarray(key.length - 64));
}

export function monitorHistoryKey(logId: string, size: number): Uint8Array {
  checkLogId(logId);
  const prefix = encoder.encode(`mon!h!${logId}!`);
  const key = new Uint8Array(prefix.length + 8);
  key.set(prefix);
  writeU64(key, prefix.length, size);
  return key;
}

/** Every history record of one log, in ascending size order. */
export function monitorHistoryRange(logId: string): { gte: Uint8Array; lt: Uint8Array } {
  checkLogId(logId);
  const prefix = encoder.encode(`mon!h!${logId}!`);
  return { gte: prefix, lt: successor(prefix) };
}

export function sizeOfMonitorHistoryKey(key: Uint8Array): number {
  return readU64(key, key.length - 8);
}

export function monitorEvidenceKey(logId: string): Uint8Array {
  checkLogId(logId);
  return encoder.encode(`mon!e!${logId}`);
}

export function monitorEvidenceRange(): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: MONITOR_EVIDENCE_PREFIX, lt: successor(MONITOR_EVIDENCE_PREFIX) };
}

// ---- followers (node/sync/log-sync.ts, node/store/followed-logs.ts) -------------------------------------------------

const STAGE = 0x73; // 's'
const BYTES = 0x62; // 'b'
const FOLLOW_PREFIX = encoder.encode('follow!');

/** Key of a log's sync staging record (see the header list). */
export function syncStageKey(prefix: Uint8Array): Uint8Array {
  return withTag(prefix, STAGE, 0);
}

/** Key of a followed log's stored-bytes record (see the header list). */
export function logBytesKey(prefix: Uint8Array): Uint8Array {
  return withTag(prefix, BYTES, 0);
}

/** The key range of a log's entry bundles. */
export function entryBundleRange(prefix: Uint8Array): { gte: Uint8Array; lt: Uint8Array } {
  const gte = withTag(prefix, ENTRIES, 0);
  return { gte, lt: withTag(prefix, ENTRIES + 1, 0) };
}

export function encodeU64(value: number): Uint8Array {
  const out = Buffer.alloc(8);
  writeU64(out, 0, value);
  return out;
}

export function decodeU64(value: Uint8Array): number {
  if (value.length !== 8) throw new RangeError('not a u64 record');
  return readU64(value, 0);
}

/** Encodes a staging record: leaves staged, then the target checkpoint note. */
export function encodeSyncStage(staged: number, note: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + note.length);
  writeU64(out, 0, staged);
  out.set(note, 8);
  return out;
}

/** Decodes a staging record (RangeError when it is too short to be one). */
export function decodeSyncStage(value: Uint8Array): { staged: number; note: Uint8Array } {
  if (value.length < 9) throw new RangeError('sync staging record is truncated');
  return { staged: readU64(value, 0), note: value.subarray(8) };
}

export function followedLogKey(logId: string): Uint8Array {
  checkLogId(logId);
  return encoder.encode(`follow!${logId}`);
}

export function followedLogRange(): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: FOLLOW_PREFIX, lt: successor(FOLLOW_PREFIX) };
}

// ---- reproducibility statistics (node/stats/repro-stats.ts) ----------------------------------------------------

const REPRO_LOG_PREFIX = encoder.encode('repro!l!');
const REPRO_PATH_PREFIX = encoder.encode('repro!p!');
const REPRO_MISMATCH_PREFIX = encoder.encode('repro!m!');
export const REPRO_COUNTERS_KEY = encoder.encode('repro!c');

export function reproLogKey(logId: string): Uint8Array {
  checkLogId(logId);
  return encoder.encode(`repro!l!${logId}`);
}

export function reproLogRange(): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: REPRO_LOG_PREFIX, lt: successor(REPRO_LOG_PREFIX) };
}

function hashKey(prefix: Uint8Array, pathHash: Uint8Array): Uint8Array {
  if (pathHash.length !== 20) throw new TypeError('a store path hash has 20 bytes');
  const key = Buffer.allocUnsafe(prefix.length + 20);
  key.set(prefix);
  key.set(pathHash, prefix.length);
  return key;
}

export function reproPathKey(pathHash: Uint8Array): Uint8Array {
  return hashKey(REPRO_PATH_PREFIX, pathHash);
}

export function reproPathRange(): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: REPRO_PATH_PREFIX, lt: successor(REPRO_PATH_PREFIX) };
}

export function reproMismatchKey(pathHash: Uint8Array): Uint8Array {
  return hashKey(REPRO_MISMATCH_PREFIX, pathHash);
}

/** Mismatching paths in hash order, after `afterHash` (exclusive) when given. */
export function reproMismatchRange(afterHash?: Uint8Array): {
  gt?: Uint8Array;
  gte?: Uint8Array;
  lt: Uint8Array;
} {
  const lt = successor(REPRO_MISMATCH_PREFIX);
  return afterHash === undefined
    ? { gte: REPRO_MISMATCH_PREFIX, lt }
    : { gt: reproMismatchKey(afterHash), lt };
}

/** The 20 hash bytes at the end of a repro!p! or repro!m! key. */
export function pathHashOfReproKey(key: Uint8Array): Uint8Array {
  return key.subarray(key.length - 20);
}
