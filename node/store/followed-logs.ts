/**
 * The logs this node follows, durable in LevelDB (one record per log, see node/store/layout.ts): each with
 * its key, a display name (unique among followed logs: the vote's configuration names logs by it), a
 * weight for the vote (a positive number, default 1) and a mode: full (a verified mirror) or light
 * (lookups with proofs, node/network/light-logs.ts). `trustix follow` and `unfollow` change it;
 * the follower (node/sync/follower.ts) listens for the changes.
 *
 * A log is named by its vkey or Nix public key when followed; afterwards also by its log ID or name.
 */

import { TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { MalformedError, TrustixError } from '../../protocol/errors.ts';
import { type LogKey, parseLogKey } from '../../protocol/keys.ts';
import { isValidKeyName } from '../../protocol/vkey.ts';
import { StoreCorruptError } from '../errors.ts';
import { type Database, writeBatch } from './database.ts';
import { followedLogKey, followedLogRange } from './layout.ts';
import { checkWeight } from './log-weight.ts';

const log = logger('trustix:followed-logs');
const LOG_ID = /^[0-9a-f]{64}$/;

export interface FollowedLog {
  readonly key: LogKey;
  readonly logId: string;
  readonly vkey: string;
  readonly name: string;
  readonly weight: number;
  /**
   * Followed light: no copy is kept, entries are looked up with proofs from peers holding the log
   * (node/network/light-logs.ts). Default false: a full, verified mirror.
   */
  readonly light: boolean;
}

export interface FollowOptions {
  /** Display name; default the key's name. Valid note key name (no spaces, '+', controls). */
  readonly name?: string;
  /** Vote weight, 0 < weight <= MAX_WEIGHT. Default 1 (or the current weight when re-following). */
  readonly weight?: number;
  /** Follow light (true) or full (false). Default false (or the current mode when re-following). */
  readonly light?: boolean;
}

/** Another followed log already has this name. */
export class NameInUseError extends TrustixError {
  readonly logName: string;

  constructor(name: string, logId: string) {
    super(
      'ERR_NAME_IN_USE',
      `the name ${JSON.stringify(name)} is already used by followed log ${logId}: choose another with --name`,
    );
    this.logName = name;
  }
}

export interface FollowedLogsEvents {
  /** A log was followed, or its name or weight changed. */
  followed: CustomEvent<FollowedLog>;
  unfollowed: CustomEvent<FollowedLog>;
}

function checkName(name: string): string {
  if (typeof name !== 'string' || !isValidKeyName(name))
    throw new MalformedError(
      'log name',
      `${JSON.stringify(String(name).slice(0, 64))} (no spaces, '+' or controls)`,
    );
  return name;
}

export class FollowedLogs extends TypedEventEmitter<FollowedLogsEvents> {
  private readonly db: Database;
  private readonly logs = new Map<string, FollowedLog>();
  /** Changes one at a time, so the name check and the write agree. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(db: Database) {
    super();
    this.db = db;
  }

  /** Loads the followed logs from `db`; a damaged record is StoreCorruptError. */
  static async open(db: Database): Promise<FollowedLogs> {
    const followed = new FollowedLogs(db);
    for await (const [key, value] of db.iterator(followedLogRange())) {
      let record: FollowedLog;
      try {
        const json = JSON.parse(new TextDecoder().decode(value)) as {
          vkey: string;
          name: string;
          weight: number;
          light?: unknown;
        };
        if (json.light !== undefined && typeof json.light !== 'boolean')
          throw new MalformedError('followed-log record', 'light must be a boolean');
        const logKey = parseLogKey(json.vkey);
        record = {
          key: logKey,
          logId: logKey.logId,
          vkey: logKey.vkey,
          name: checkName(json.name),
          weight: checkWeight(json.weight),
          light: json.light === true,
        };
        if (!Buffer.from(followedLogKey(record.logId)).equals(key))
          throw new MalformedError('followed-log record', 'stored under another log ID');
      } catch (cause) {
        throw new StoreCorruptError('a followed-log record is damaged', { cause });
      }
      followed.logs.set(record.logId, record);
    }
    return followed;
  }

  /** Every followed log, by name. */
  list(): FollowedLog[] {
    return [...this.logs.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The followed log named by log ID, vkey, Nix public key or name; undefined when not followed. */
  get(ref: string): FollowedLog | undefined {
    if (LOG_ID.test(ref)) return this.logs.get(ref);
    for (const l of this.logs.values()) if (l.name === ref) return l;
    if (!ref.includes('+') && !ref.includes(':')) return undefined;
    try {
      return this.logs.get(parseLogKey(ref).logId);
    } catch {
      return undefined;
    }
  }

  /**
   * Follows the log of `key` (a vkey or Nix public key, or a parsed LogKey), durably. Following a log
   * again changes its name and weight where given. MalformedError for a bad key or name,
   * OutOfRangeError for a bad weight, NameInUseError for a name another log has.
   */
  follow(key: string | LogKey, options: FollowOptions = {}): Promise<{ log: FollowedLog; added: boolean }> {
    const logKey = typeof key === 'string' ? parseLogKey(key) : key;
    if (options.name !== undefined) checkName(options.name);
    if (options.weight !== undefined) checkWeight(options.weight);
    return this.serially(async () => {
      const old = this.logs.get(logKey.logId);
      const name = options.name ?? old?.name ?? logKey.name;
      for (const l of this.logs.values())
        if (l.name === name && l.logId !== logKey.logId) throw new NameInUseError(name, l.logId);
      const record: FollowedLog = {
        key: logKey,
        logId: logKey.logId,
        vkey: logKey.vkey,
        name,
        weight: options.weight ?? old?.weight ?? 1,
        light: options.light ?? old?.light ?? false,
      };
      if (
        old !== undefined &&
        old.name === record.name &&
        old.weight === record.weight &&
        old.light === record.light
      )
        return { log: old, added: false };
      // `light` is written only when set, so records of full logs read the same by older versions.
      const value = new TextEncoder().encode(
        JSON.stringify({
          vkey: record.vkey,
          name,
          weight: record.weight,
          ...(record.light && { light: true }),
        }),
      );
      await writeBatch(this.db, [{ type: 'put', key: followedLogKey(record.logId), value }]);
      this.logs.set(record.logId, record);
      log(
        '%s log %s as %s (weight %d, %s)',
        old === undefined ? 'following' : 'updated',
        record.logId,
        name,
        record.weight,
        record.light ? 'light' : 'full',
      );
      this.dispatchEvent(new CustomEvent('followed', { detail: record }));
      return { log: record, added: old === undefined };
    });
  }

  /** Stops following the log named by `ref` (see get); undefined when it was not followed. */
  unfollow(ref: string): Promise<FollowedLog | undefined> {
    return this.serially(async () => {
      const record = this.get(ref);
      if (record === undefined) return undefined;
      await writeBatch(this.db, [{ type: 'del', key: followedLogKey(record.logId) }]);
      this.logs.delete(record.logId);
      log('unfollowed log %s (%s)', record.logId, record.name);
      this.dispatchEvent(new CustomEvent('unfollowed', { detail: record }));
      return record;
    });
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => {});
    return run;
  }
}
