/**
 * The checkpoint monitor's durable records (keys in node/store/layout.ts), one set per log seen in gossip:
 *
 *   state     JSON {"vkey":…,"size":N,"root":base64,"forked":bool,"seen":N}: the latest (largest) size
 *             seen and its root, the fork flag, and the recency tick that orders eviction after a restart
 *   history   per size: flags (u8, bit 0 = consistency checked) || root (32 bytes) || the signed note
 *   evidence  the fork evidence document, exactly as verified
 *
 * Storage is our own and was verified before it was written, so reads check shape, not signatures.
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
  /** Known consistent with the log's checked chain (see node/monitor/checkpoint-monitor.ts). */
  readonly checked: boolean;
  /** The signed note, exact bytes. */
  readonly note: Uint8Array;
}

export class CheckpointRecords {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  /** Every stored state, in key order. */
  async *states(): AsyncGenerator<[string, StateRecord]> {
    for await (const [key, value] of this.db.iterator(monitorStateRange()))
      yield [logIdOfMonitorKey(key), decodeState(value)];
  }

  async state(logId: string): Promise<StateRecord | undefined> {
    const value = await this.db.get(monitorStateKey(logId));
    return value === undefined ? undefined : decodeState(value);
  }

  /** The log's history, ascending by size. */
  async history(logId: string): Promise<HistoryRecord[]> {
    const out: HistoryRecord[] = [];
    for await (const [key, value] of this.db.iterator(monitorHistoryRange(logId)))
      out.push(decodeHistory(sizeOfMonitorHistoryKey(key), value));
    return out;
  }

  /** Every stored evidence document with its log ID. */
  async *evidence(): AsyncGenerator<[string, Uint8Array]> {
    for await (const [key, value] of this.db.iterator(monitorEvidenceRange()))
      yield [logIdOfMonitorKey(key), value];
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
    const ops: BatchOp[] = [
      { type: 'del', key: monitorStateKey(logId) },
      { type: 'del', key: monitorEvidenceKey(logId) },
    ];
    for await (const key of this.db.keys(monitorHistoryRange(logId))) ops.push({ type: 'del', key });
    return ops;
  }

  /**
   * Writes `ops` in one atomic batch. `sync` for what must survive a crash (fork flags and evidence);
   * checkpoint history may lose its last writes to a crash, since gossip brings checkpoints again.
   */
  async write(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    const batch = this.db.batch();
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else batch.del(op.key);
    }
    await batch.write({ sync });
  }
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
