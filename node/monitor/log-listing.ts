/**
 * What the checkpoint monitor lists for the user (the control API, the demo): every tracked log, pages
 * of the logs seen but not followed (a flood of fresh keys makes that list too long for one answer), and
 * the stored fork evidence, verified again on the way out.
 */
import { type Evidence, verifyEvidence } from '../../protocol/evidence.ts';
import { StoreCorruptError } from '../errors.ts';
import type { CheckpointRecords } from './checkpoint-records.ts';
import type { MonitoredLogs } from './monitored-logs.ts';

export interface MonitoredLog {
  readonly logId: string;
  readonly vkey: string;
  readonly size: number;
  readonly forked: boolean;
  readonly held: boolean;
}

/** A page of logs seen but not followed (see CheckpointMonitor.seen). */
export interface SeenPage {
  readonly logs: MonitoredLog[];
  /** Every log seen, less the excluded ones. */
  readonly total: number;
  /** The `after` of the next page; undefined at the end. */
  readonly next?: string;
}

/** Most logs in one page of CheckpointMonitor.seen. */
export const MAX_SEEN_PAGE = 1000;

export class LogListing {
  private readonly records: CheckpointRecords;
  private readonly table: MonitoredLogs;
  private readonly isHeld: (logId: string) => boolean;

  constructor(records: CheckpointRecords, table: MonitoredLogs, isHeld: (logId: string) => boolean) {
    this.records = records;
    this.table = table;
    this.isHeld = isHeld;
  }

  /** Every tracked log, for listing. */
  async logs(): Promise<MonitoredLog[]> {
    const out: MonitoredLog[] = [];
    for await (const [logId, s] of this.records.states())
      out.push({ logId, vkey: s.vkey, size: s.size, forked: s.forked, held: this.isHeld(logId) });
    return out;
  }

  /**
   * A page of the tracked logs, ordered by log ID, those after `after`, at most `limit` (1 to
   * MAX_SEEN_PAGE), leaving out `exclude` (the followed and own logs, listed on their own): a flood of
   * fresh keys makes this list as long as `maxLogs`, too long for one answer.
   */
  async seen(options: { after?: string; limit: number; exclude: ReadonlySet<string> }): Promise<SeenPage> {
    const { after, limit, exclude } = options;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_SEEN_PAGE)
      throw new RangeError(`limit must be 1 to ${MAX_SEEN_PAGE}`);
    let total = 0;
    const ids: string[] = [];
    for (const id of this.table.ids()) {
      if (exclude.has(id)) continue;
      total++;
      if (after === undefined || id > after) ids.push(id);
    }
    ids.sort();
    const logs: MonitoredLog[] = [];
    for (const logId of ids.slice(0, limit)) {
      const s = await this.records.state(logId);
      if (s !== undefined)
        logs.push({ logId, vkey: s.vkey, size: s.size, forked: s.forked, held: this.isHeld(logId) });
    }
    return { logs, total, ...(ids.length > limit ? { next: ids[limit - 1]! } : {}) };
  }

  /** Every stored evidence document, verified again (one that no longer verifies is corruption). */
  async evidence(): Promise<Evidence[]> {
    const out: Evidence[] = [];
    for await (const [logId, bytes] of this.records.evidence()) {
      try {
        out.push(verifyEvidence(bytes));
      } catch (cause) {
        throw new StoreCorruptError(`stored evidence of log ${logId} does not verify`, { cause });
      }
    }
    return out;
  }
}
