/**
 * The read side of the reproducibility statistics (node/stats/repro-stats.ts): what `/api/v1/` and
 * `trustix challenge` show. Counters answer the summary, the matrix and the daily series in memory; the
 * mismatch list is one bounded range read of the mismatch index (paged by a cursor, filtered on the
 * server); a path's report reads what each followed log says about it, live from the logs.
 */
import { parseEntry } from '../../protocol/entry.ts';
import { MalformedError } from '../../protocol/errors.ts';
import { formatSha256 } from '../../protocol/nix-hash.ts';
import { parseHashPart } from '../../protocol/store-path.ts';
import type { Database } from '../store/database.ts';
import type { FollowedLogs } from '../store/followed-logs.ts';
import { pathHashOfReproKey, reproMismatchRange, reproPathKey } from '../store/layout.ts';
import { pathHashBytes } from '../store/log-entries.ts';
import type { LogStore } from '../store/log-store.ts';
import {
  type Counters,
  decodeMismatch,
  decodeRecord,
  digestsByLog,
  type Verdict,
  verdictOf,
} from './repro-record.ts';

const decoder = new TextDecoder();

/** Most mismatch index records read for one page, so a filter that matches little stays fast. */
export const MAX_SCAN = 20_000;
export const MAX_PAGE = 500;

export interface ReproViewsComponents {
  readonly db: Database;
  readonly followed: FollowedLogs;
  store(logId: string): LogStore | undefined;
  counters(): Counters;
  numberOf(logId: string): number | undefined;
  logIdOf(n: number): string | undefined;
  indexed(logId: string): number;
}

export interface LogSummary {
  readonly name: string;
  readonly logId: string;
  /** Entries in the verified copy. */
  readonly size: number;
  readonly indexed: number;
  readonly entries: number;
  readonly paths: number;
}

export interface PairStats {
  readonly a: string;
  readonly b: string;
  readonly shared: number;
  readonly agree: number;
  /** agree / shared, or null when they share nothing. */
  readonly rate: number | null;
}

export interface MismatchPage {
  readonly items: {
    hashPart: string;
    storePath: string;
    logs: string[];
    /**
     * The same logs grouped by what they publish for the path, the largest group first (ties by name): a
     * log in any group but the first disagrees with it. A log holding two values forms a group alone.
     */
    groups: string[][];
  }[];
  /** Pass as `after` for the next page; null at the end. */
  readonly next: string | null;
}

export interface PathReport {
  readonly hashPart: string;
  readonly storePath: string | null;
  readonly verdict: Verdict;
  /** Logs that hold the path, with what they say. */
  readonly logs: { log: string; logId: string; fingerprints: string[]; narHashes: string[] }[];
  /** Followed logs without an entry for it. */
  readonly silent: string[];
}

export class ReproViews {
  private readonly c: ReproViewsComponents;

  constructor(components: ReproViewsComponents) {
    this.c = components;
  }

  summary(): { paths: Counters['paths'] & { analysed: number }; logs: LogSummary[] } {
    const { paths, logs } = this.c.counters();
    return {
      paths: { ...paths, analysed: paths.reproducible + paths.mismatch + paths.inconclusive },
      logs: this.c.followed.list().map((f) => {
        const n = this.c.numberOf(f.logId);
        const counts = n === undefined ? undefined : logs[n];
        return {
          name: f.name,
          logId: f.logId,
          size: this.c.store(f.logId)?.size ?? 0,
          indexed: this.c.indexed(f.logId),
          entries: counts?.entries ?? 0,
          paths: counts?.paths ?? 0,
        };
      }),
    };
  }

  /** Every pair of followed logs (by name order). */
  matrix(): { logs: string[]; pairs: PairStats[] } {
    const followed = this.c.followed.list();
    const { pairs } = this.c.counters();
    const out: PairStats[] = [];
    for (let i = 0; i < followed.length; i++)
      for (let j = i + 1; j < followed.length; j++) {
        const a = followed[i]!;
        const b = followed[j]!;
        const na = this.c.numberOf(a.logId);
        const nb = this.c.numberOf(b.logId);
        const [shared, agree] =
          na === undefined || nb === undefined
            ? [0, 0]
            : (pairs[na < nb ? `${na},${nb}` : `${nb},${na}`] ?? [0, 0]);
        out.push({ a: a.name, b: b.name, shared, agree, rate: shared === 0 ? null : agree / shared });
      }
    return { logs: followed.map((f) => f.name), pairs: out };
  }

  /**
   * The reproducibility rate over time: per UTC day on which indexing happened (the last `days` of them,
   * oldest first), the reproducible and mismatching paths at the end of the day and their ratio.
   */
  daily(days = 365): { day: string; reproducible: number; mismatch: number; rate: number | null }[] {
    return Object.entries(this.c.counters().daily)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .slice(-days)
      .map(([day, [reproducible, mismatch]]) => ({
        day,
        reproducible,
        mismatch,
        rate: reproducible + mismatch === 0 ? null : reproducible / (reproducible + mismatch),
      }));
  }

  /**
   * A page of mismatching paths in hash order after `after`; `log` keeps those a followed log (by name)
   * holds, `q` those whose store path contains it. Reads at most MAX_SCAN index records: a page may come
   * back short with a `next` cursor to go on from.
   */
  async mismatches(
    options: { after?: string; limit?: number; log?: string; q?: string } = {},
  ): Promise<MismatchPage> {
    const limit = options.limit ?? 50;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE)
      throw new MalformedError('limit', `expected 1..${MAX_PAGE}`);
    const after = options.after === undefined ? undefined : pathHashBytes(options.after);
    let logN: number | undefined;
    if (options.log !== undefined) {
      const f = this.c.followed.get(options.log);
      if (f === undefined)
        throw new MalformedError('log', `${JSON.stringify(options.log.slice(0, 64))} is not followed`);
      logN = this.c.numberOf(f.logId) ?? -1;
    }
    const q = options.q?.toLowerCase();
    const items: (Omit<MismatchPage['items'][number], 'groups'> & { key: Uint8Array })[] = [];
    let scanned = 0;
    let last: string | undefined;
    for await (const [key, value] of this.c.db.iterator({ ...reproMismatchRange(after), limit: MAX_SCAN })) {
      scanned++;
      const m = decodeMismatch(key, value);
      last = m.hashPart;
      if (logN !== undefined && !m.logs.includes(logN)) continue;
      if (q !== undefined && !m.path.toLowerCase().includes(q)) continue;
      items.push({
        hashPart: m.hashPart,
        storePath: m.path,
        logs: m.logs.map((n) => this.nameOf(n)),
        key: reproPathKey(pathHashOfReproKey(key)),
      });
      if (items.length === limit) break;
    }
    const more = items.length === limit || scanned === MAX_SCAN;
    // Who holds which value: one read for the page (the records the statistics keep per path).
    const records = items.length === 0 ? [] : await this.c.db.getMany(items.map((i) => i.key));
    return {
      items: items.map(({ key: _key, ...item }, i) => ({ ...item, groups: this.groupsOf(records[i]) })),
      next: more && last !== undefined ? last : null,
    };
  }

  /** Logs grouped by the value they hold (their digests), largest group first. */
  private groupsOf(record: Uint8Array | undefined): string[][] {
    const byValue = new Map<string, string[]>();
    for (const [n, digests] of digestsByLog(decodeRecord(record))) {
      const value = [...new Set(digests)].sort().join('|');
      const names = byValue.get(value) ?? [];
      names.push(this.nameOf(n));
      byValue.set(value, names);
    }
    return [...byValue.values()]
      .map((g) => g.sort())
      .sort((a, b) => b.length - a.length || a[0]!.localeCompare(b[0]!));
  }

  /** What every followed log says about the path with this hash part, and its verdict. */
  async path(hashPart: string, storePath?: string): Promise<PathReport> {
    parseHashPart(hashPart);
    const logs: PathReport['logs'] = [];
    const silent: string[] = [];
    let found: string | undefined;
    for (const f of this.c.followed.list()) {
      const distinct = new Set<string>();
      for (const { entry } of (await this.c.store(f.logId)?.entriesForPath(hashPart)) ?? []) {
        const text = decoder.decode(entry);
        if (storePath !== undefined && !text.startsWith(`1;${storePath};`)) continue;
        distinct.add(text);
      }
      const fingerprints = [...distinct];
      if (fingerprints.length === 0) {
        silent.push(f.name);
        continue;
      }
      const entries = fingerprints.map((fp) => parseEntry(fp));
      found ??= entries[0]!.storePath;
      logs.push({
        log: f.name,
        logId: f.logId,
        fingerprints,
        narHashes: entries.map((e) => formatSha256(e.narHash)),
      });
    }
    const verdict = verdictOf(new Map(logs.map((l, i) => [i, l.fingerprints])));
    return { hashPart, storePath: storePath ?? found ?? null, verdict, logs, silent };
  }

  private nameOf(n: number): string {
    const logId = this.c.logIdOf(n);
    return (
      (logId === undefined ? undefined : this.c.followed.get(logId)?.name) ?? logId?.slice(0, 16) ?? `#${n}`
    );
  }
}
