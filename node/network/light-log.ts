/**
 * One light log as the light logs (node/network/light-logs.ts) keep it: its record (the newest verified
 * checkpoint, the largest size seen, the check under way and its retries) and its status as `trustix logs`
 * shows it. Apart so that the checks (node/network/light-log-checks.ts) read the record without importing
 * the light logs, and the status's states read apart from the scheduling that changes them.
 */
import type { Hash } from '../../protocol/merkle.ts';
import type { FollowedLog } from '../store/followed-logs.ts';
import type { FollowedLogStatus } from '../sync/follow-status.ts';

/** What is kept of one light log (in memory; the checkpoints themselves are the monitor's). */
export interface LightLog {
  followed: FollowedLog;
  /** Newest verified checkpoint. */
  head?: { size: number; root: Hash };
  /** Largest size seen, verified or not. */
  seen: number;
  checking?: Promise<void>;
  again: boolean;
  retry?: NodeJS.Timeout;
  delay: number;
  hint?: string;
  error?: Error;
  stopped: boolean;
}

/** The status of a light log, as `trustix logs` shows it. */
export function lightLogStatus(logId: string, l: LightLog, forked: boolean): FollowedLogStatus {
  const f = l.followed;
  const verifiedSize = l.head?.size ?? 0;
  const size = Math.max(l.seen, verifiedSize);
  return {
    logId,
    name: f.name,
    vkey: f.vkey,
    weight: f.weight,
    mode: 'light',
    state: forked
      ? 'forked'
      : l.head === undefined && l.seen === 0
        ? 'searching'
        : size > verifiedSize
          ? l.error && l.checking === undefined
            ? 'failed'
            : 'syncing'
          : 'ok',
    size,
    verifiedSize,
    targetSize: size,
    lag: size - verifiedSize,
    sources: [],
    ...(l.error === undefined ? {} : { error: { code: errorCode(l.error), message: l.error.message } }),
  };
}

function errorCode(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err.name;
}
