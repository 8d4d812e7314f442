/**
 * The checkpoint monitor's durable records (keys in node/store/layout.ts), one set per log seen in gossip:
 *
 *   state     JSON {"vkey":…,"size":N,"root":base64,"forked":bool,"seen":N}: the latest (largest) size
 *             seen and its root, the fork flag, and the recency tick that orders eviction after a restart
 *   history   per size: flags (u8, bit 0 = consistency checked) || root (32 bytes) || the signed note
 *   evidence  the fork evidence document, exactly as verified
 *
 * Storage is our own and was verified before it was written, so reads check shape, not signatures.
 *
 * Logs nobody here follows (`durable` says no) are kept in memory only, under the same keys: anyone can
 * make keys, so their checkpoints must cost no disk write and no fsync (docs/SECURITY.md, "Keyless
 * peers"). A log's records live in one place: a log in memory moves to disk at its next write once it is
 * followed (or by `write(logId, [], true)`); a log already on disk stays there. `memoryBytes` is what the
 * memory tier holds, for the eviction policy (node/monitor/monitored-logs.ts).
 */

import { decodeBase64, encodeBase64 } from '../../protocol/base64.ts';
import { HASH_SIZE } from '../../protocol/constants.ts';
import type { Hash } from '../../protocol/merkle.ts';
import { StoreCorruptError } from '../errors.ts';
import type { BatchOp, Database } from '../store/database.ts';
import {
  logIdOfMonitorKey,
  monitorEvidenceKey,
  monitorEvidenceRange,
  monitorHistoryKey,
  monitorHistoryRange,
  monitorStateKey,
  monitorStateRange,
  sizeOfMonitorHistoryKey,
} from '../store/layout.ts';

const CHECKED = 0x01;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the node knows about one log from gossip. */
export interface StateRecord {
  readonly vkey: string;
  /** The largest checkpoint size seen, and its root. */
  readonly size: number;
  readonly root: Hash;
  readonly forked: boolean;
  /** Recency tick: larger is more recently seen (orders eviction across restarts). */
  readonly seen: number;
}

/** A checkpoint kept in a log's history. */
export interface HistoryRecord {
  readonly size: number;
  readonly root: Hash;
  /** Known consistent with the log's checked chain (see node/monitor/tree-consistency.ts). */
  readonly checked: boolean;
  /** The signed note, exact bytes. */
  readonly note: Uint8Array;
}

/** One log's records in memory, by key (hex). */
type MemoryLog = Map<string, { readonly key: Uint8Array; readonly value: Uint8Array }>;

export class CheckpointRecords {
  private readonly db: Database;
  private readonly durable: (logId: string) => boolean;
  private readonly memory = new Map<string, MemoryLog>();
  private memoryBytesValue = 0;

  /** `durable`: whether a log's records belong on disk (default: every log's). */
  constructor(db: Database, durable: (logId: string) => boolean = () => true) {
    this.db = db;
    this.durable = durable;
  }

  /** Bytes of keys and values held in memory for logs not kept on disk. */
  get memoryBytes(): number {
    return this.memoryBytesValue;
  }

  /** Whether the log's records are in memory only. */
  inMemory(logId: string): boolean {
    return this.memory.has(logId);
  }

  /** Every stored state: on disk in key order, then in memory. */
  async *states(): AsyncGenerator<[string, StateRecord]> {
    for await (const [key, value] of this.db.iterator(monitorStateRange()))
      yield [logIdOfMonitorKey(key), decodeState(value)];
    for (const [logId, records] of this.memory) {
      const value = records.get(hex(monitorStateKey(logId)))?.value;
      if (value !== undefined) yield [logId, decodeState(value)];
    }
  }

  async state(logId: string): Promise<StateRecord | undefined> {
    const records = this.memory.get(logId);
    const value =
      records === undefined
        ? await this.db.get(monitorStateKey(logId))
        : records.get(hex(monitorStateKey(logId)))?.value;
    return value === undefined ? undefined : decodeState(value);
  }

  /** The log's history, ascending by size. */
  async history(logId: string): Promise<HistoryRecord[]> {
    const out: HistoryRecord[] = [];
    const records = this.memory.get(logId);
    if (records !== undefined) {
      const special = new Set([hex(monitorStateKey(logId)), hex(monitorEvidenceKey(logId))]);
      for (const [id, { key, value }] of records)
        if (!special.has(id)) out.push(decodeHistory(sizeOfMonitorHistoryKey(key), value));
      return out.sort((a, b) => a.size - b.size);
    }
    for await (const [key, value] of this.db.iterator(monitorHistoryRange(logId)))
      out.push(decodeHistory(sizeOfMonitorHistoryKey(key), value));
    return out;
  }

  /** Every stored evidence document with its log ID. */
  async *evidence(): AsyncGenerator<[string, Uint8Array]> {
    for await (const [key, value] of this.db.iterator(monitorEvidenceRange()))
      yield [logIdOfMonitorKey(key), value];
    for (const [logId, records] of this.memory) {
      const value = records.get(hex(monitorEvidenceKey(logId)))?.value;
      if (value !== undefined) yield [logId, value];
    }
  }

  putState(logId: string, state: StateRecord): BatchOp {
    const json = JSON.stringify({
      vkey: state.vkey,
      size: state.size,
      root: encodeBase64(state.root),
      forked: state.forked,
      seen: state.seen,
    });
    return { type: 'put', key: monitorStateKey(logId), value: encoder.encode(json) };
  }

  putHistory(logId: string, record: HistoryRecord): BatchOp {
    const value = new Uint8Array(1 + HASH_SIZE + record.note.length);
    value[0] = record.checked ? CHECKED : 0;
    value.set(record.root, 1);
    value.set(record.note, 1 + HASH_SIZE);
    return { type: 'put', key: monitorHistoryKey(logId, record.size), value };
  }

  delHistory(logId: string, size: number): BatchOp {
    return { type: 'del', key: monitorHistoryKey(logId, size) };
  }

  /**
   * Deletes of the history entries beyond `limit`: the smallest sizes go, except the largest checked
   * entry (the anchor pending entries are proven against). `history` is sorted in place.
   */
  trimHistory(logId: string, history: HistoryRecord[], limit: number): BatchOp[] {
    history.sort((a, b) => a.size - b.size);
    const anchor = history.findLast((h) => h.checked);
    const ops: BatchOp[] = [];
    for (const h of history) {
      if (history.length - ops.length <= limit) break;
      if (h !== anchor) ops.push(this.delHistory(logId, h.size));
    }
    return ops;
  }

  putEvidence(logId: string, bytes: Uint8Array): BatchOp {
    return { type: 'put', key: monitorEvidenceKey(logId), value: bytes };
  }

  /** Operations that remove everything stored about a log. */
  async removeLog(logId: string): Promise<BatchOp[]> {
    const records = this.memory.get(logId);
    if (records !== undefined) return [...records.values()].map(({ key }) => ({ type: 'del', key }));
    const ops: BatchOp[] = [
      { type: 'del', key: monitorStateKey(logId) },
      { type: 'del', key: monitorEvidenceKey(logId) },
    ];
    for await (const key of this.db.keys(monitorHistoryRange(logId))) ops.push({ type: 'del', key });
    return ops;
  }

  /**
   * Writes `ops`, all about `logId`, in one atomic batch. `sync` for what must survive a crash (fork
   * flags and evidence); checkpoint history may lose its last writes to a crash, since gossip brings
   * checkpoints again. A log not kept on disk is written to memory (see above).
   */
  async write(logId: string, ops: readonly BatchOp[], sync: boolean): Promise<void> {
    let records = this.memory.get(logId);
    if (records !== undefined && this.durable(logId)) {
      // Followed now: its records move to disk with this batch.
      ops = [
        ...[...records.values()].map(({ key, value }): BatchOp => ({ type: 'put', key, value })),
        ...ops,
      ];
      this.dropMemory(logId);
      records = undefined;
    } else if (
      records === undefined &&
      ops.length > 0 &&
      !this.durable(logId) &&
      (await this.db.get(monitorStateKey(logId))) === undefined
    ) {
      records = new Map();
      this.memory.set(logId, records);
    }
    if (records !== undefined) {
      for (const op of ops) {
        const id = hex(op.key);
        const old = records.get(id);
        if (old !== undefined) this.memoryBytesValue -= old.key.length + old.value.length;
        if (op.type === 'put') {
          records.set(id, { key: op.key, value: op.value });
          this.memoryBytesValue += op.key.length + op.value.length;
        } else records.delete(id);
      }
      if (records.size === 0) this.memory.delete(logId);
      return;
    }
    if (ops.length === 0) return;
    const batch = this.db.batch();
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else batch.del(op.key);
    }
    await batch.write({ sync });
  }

  private dropMemory(logId: string): void {
    for (const { key, value } of this.memory.get(logId)?.values() ?? [])
      this.memoryBytesValue -= key.length + value.length;
    this.memory.delete(logId);
  }
}

function hex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}

function decodeState(value: Uint8Array): StateRecord {
  try {
    const json = JSON.parse(decoder.decode(value)) as Record<string, unknown>;
    const { vkey, size, root, forked, seen } = json;
    if (
      typeof vkey !== 'string' ||
      !Number.isSafeInteger(size) ||
      typeof root !== 'string' ||
      typeof forked !== 'boolean' ||
      !Number.isSafeInteger(seen)
    )
      throw new TypeError('unexpected shape');
    return {
      vkey,
      size: size as number,
      root: decodeBase64(root, 'root', HASH_SIZE),
      forked,
      seen: seen as number,
    };
  } catch (cause) {
    throw new StoreCorruptError('a checkpoint monitor state record does not decode', { cause });
  }
}

function decodeHistory(size: number, value: Uint8Array): HistoryRecord {
  if (value.length <= 1 + HASH_SIZE || (value[0]! & ~CHECKED) !== 0)
    throw new StoreCorruptError(`the checkpoint monitor's history record of size ${size} does not decode`);
  return {
    size,
    checked: (value[0]! & CHECKED) !== 0,
    root: value.subarray(1, 1 + HASH_SIZE),
    note: value.subarray(1 + HASH_SIZE),
  };
}
