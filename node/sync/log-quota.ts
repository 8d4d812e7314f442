/**
 * Per-log quotas of a followed log (docs/CLI.md "sync", docs/SECURITY.md "A hostile followed builder"):
 * what one builder's log may make this node store. The tree size is bounded by `maxTreeSize` (the entry
 * quota, checked before a sync plans anything); here the bytes of its stored entry bundles, the size of
 * one entry and its number of references. A log beyond any of them fails with LogLimitError naming the
 * setting: the entries are signed, so the fault is the log's, never a source's; nothing beyond the
 * quota is written.
 */
import { LogLimitError } from '../errors.ts';
import type { BatchOp, Database } from '../store/database.ts';
import { decodeU64, encodeU64, entryBundleRange, logBytesKey, logPrefix } from '../store/layout.ts';

export interface LogQuotaInit {
  /**
   * Largest entry of a followed log, in bytes. Default 32,768: a fingerprint with about 500 references
   * (the protocol allows 65,535).
   */
  readonly maxEntryBytes?: number;
  /** Most references of one entry. Default 1,024. */
  readonly maxReferences?: number;
  /** Most bytes of entry bundles stored for one log (2 + length per entry). Default 16 GiB. */
  readonly maxLogBytes?: number;
}

/** LogQuotaInit's defaults (documented there). */
export const LOG_QUOTA_DEFAULTS: Required<LogQuotaInit> = {
  maxEntryBytes: 32_768,
  maxReferences: 1_024,
  maxLogBytes: 16 * 1024 ** 3,
};

const SEMICOLON = 0x3b;
const COMMA = 0x2c;

/** References of a valid entry: the store paths after its last ';', joined by ','. */
export function referenceCount(entry: Uint8Array): number {
  const last = entry.lastIndexOf(SEMICOLON);
  if (last < 0 || last === entry.length - 1) return 0;
  let n = 1;
  for (let i = last + 1; i < entry.length; i++) if (entry[i] === COMMA) n++;
  return n;
}

/** Throws LogLimitError when entry `index` of the log is beyond the per-entry quotas. */
export function checkEntryQuota(
  logId: string,
  index: number,
  entry: Uint8Array,
  quota: Required<LogQuotaInit>,
): void {
  if (entry.length > quota.maxEntryBytes)
    throw new LogLimitError(
      logId,
      'maxEntryBytes',
      `entry ${index} has ${entry.length} bytes, more than ${quota.maxEntryBytes}`,
    );
  const refs = referenceCount(entry);
  if (refs > quota.maxReferences)
    throw new LogLimitError(
      logId,
      'maxReferences',
      `entry ${index} has ${refs} references, more than ${quota.maxReferences}`,
    );
}

/** The byte count of a followed log's stored entry bundles, kept in LevelDB beside them. */
export class LogBytes {
  private readonly logId: string;
  private readonly key: Uint8Array;
  private readonly max: number;
  /** Bytes stored (committed and staged). */
  held = 0;

  private constructor(logId: string, max: number) {
    this.logId = logId;
    this.key = logBytesKey(logPrefix(logId));
    this.max = max;
  }

  /**
   * Reads the record. A copy stored before the record existed is counted once, from its bundles (their
   * values' lengths are exactly what the record counts), and the count is written on the next step.
   */
  static async load(db: Database, logId: string, max: number): Promise<LogBytes> {
    const bytes = new LogBytes(logId, max);
    const value = await db.get(bytes.key);
    if (value !== undefined) bytes.held = decodeU64(value);
    else
      for await (const bundle of db.values(entryBundleRange(logPrefix(logId)))) bytes.held += bundle.length;
    return bytes;
  }

  /** Throws LogLimitError when the log already holds more than its quota (e.g. lowered since). */
  check(): void {
    if (this.held > this.max)
      throw new LogLimitError(
        this.logId,
        'maxLogBytes',
        `its entries take ${this.held} bytes, more than ${this.max}`,
      );
  }

  /**
   * The put recording `added` more bytes, in the batch that stores them; LogLimitError (and nothing
   * recorded) when they would pass the quota. Call `took` once the batch is written.
   */
  take(added: number): { op: BatchOp; took: () => void } {
    const total = this.held + added;
    if (total > this.max)
      throw new LogLimitError(
        this.logId,
        'maxLogBytes',
        `storing ${added} more bytes of entries would take it to ${total} bytes, more than ${this.max}`,
      );
    return {
      op: { type: 'put', key: this.key, value: encodeU64(total) },
      took: () => {
        this.held = total;
      },
    };
  }
}
