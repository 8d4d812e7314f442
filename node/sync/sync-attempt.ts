/**
 * One sync attempt of a followed log in its slot (node/sync/sync-slots.ts), and what its end makes of the
 * log: 'ok' once synced; back in line after its time slice (not failed); 'paused' below the low-disk
 * watermark, tried again every `diskCheckMs`, holding no slot; 'forked' for good on a fork (with its
 * evidence); 'failed', retried with exponential back-off, or for good when a retry cannot mend it (a
 * non-entry in the log, a log beyond the limits).
 */
import type { TypedEventTarget } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { asError, DiskSpaceError, InvalidLogEntryError, LogForkError, LogLimitError } from '../errors.ts';
import type { Database } from '../store/database.ts';
import type { DiskWatermark } from './disk-watermark.ts';
import type { Tracked } from './follow-status.ts';
import { LogSync } from './log-sync.ts';
import type { LogSyncInit } from './log-sync-settings.ts';
import { shuffled } from './random-order.ts';
import type { SyncProgress } from './sync-report.ts';
import { SliceEnded } from './sync-slots.ts';
import type { VerifiedBundle } from './sync-stage.ts';
import type { SourceFailedEvent, TileSource } from './tile-source.ts';

const log = logger('trustix:follower');

export interface FollowerEvents {
  progress: CustomEvent<SyncProgress>;
  'source-failed': CustomEvent<SourceFailedEvent>;
  synced: CustomEvent<{ logId: string; checkpoint: SignedCheckpoint }>;
  /** The log key signed two histories; `error.evidence` is the document to store and gossip. */
  fork: CustomEvent<{ logId: string; error: LogForkError }>;
  'sync-failed': CustomEvent<{ logId: string; error: Error }>;
  /** The data directory's disk is below the low-disk watermark: the log's sync waits. */
  paused: CustomEvent<{ logId: string; error: DiskSpaceError }>;
}

/**
 * Failures a retry cannot mend: the log holds a non-entry, or it is beyond this node's limits (its tree
 * only grows). The log stays 'failed' with the reason until the node restarts.
 */
export const isFinal = (err: Error | undefined): boolean =>
  err instanceof InvalidLogEntryError || err instanceof LogLimitError;

export interface SyncAttemptContext {
  readonly db: Database;
  sourcesFor(logId: string, hint?: string): Promise<readonly TileSource[]> | readonly TileSource[];
  sourcesOf?(logId: string, peers: readonly string[]): readonly TileSource[];
  stored?(logId: string, bundles: readonly VerifiedBundle[]): Promise<void>;
  readonly watermark: DiskWatermark | undefined;
  readonly init: LogSyncInit & {
    readonly diskCheckMs: number;
    readonly retryDelayMs: number;
    readonly maxRetryDelayMs: number;
  };
  /** Where the attempt's events go (the follower). */
  readonly events: TypedEventTarget<FollowerEvents>;
  /** Schedules the log again (after a pause or a back-off). */
  schedule(t: Tracked): void;
  /** A random number in [0, 1) (FollowerComponents.random). */
  random(): number;
}

/** Syncs `t` to its target once; never throws (the outcome is in `t` and the events). */
export async function syncAttempt(t: Tracked, signal: AbortSignal, c: SyncAttemptContext): Promise<void> {
  const { logId } = t.followed;
  const store = t.store!;
  const { watermark, events } = c;
  try {
    await watermark?.check();
    if (t.error instanceof DiskSpaceError) t.error = undefined; // space again: no longer the reason
    const sources = await c.sourcesFor(logId, t.hint);
    const { db, stored } = c;
    const checkSpace = watermark && (() => watermark.check());
    const sync = new LogSync(
      {
        db,
        store,
        // Of the sources equal in all else the sync asks the first given (node/sync/source-slots.ts):
        // given as found, that is the gossip sender, often the builder, for every follower it told.
        sources: shuffled(sources, c.random),
        // Peers that caught up since the sync began share its load (docs/ARCHITECTURE.md, "Sync").
        discover: () => c.sourcesFor(logId, t.hint),
        // The peers a busy source served the log to: they hold what it would have sent.
        ...(c.sourcesOf && { refer: (peers: readonly string[]) => c.sourcesOf!(logId, peers) }),
        ...(stored && { stored }),
        ...(checkSpace && { checkSpace }),
      },
      c.init,
    );
    t.sources = sources.map((s) => s.id);
    sync.addEventListener('progress', (e) => {
      t.progress = e.detail;
      events.dispatchEvent(new CustomEvent('progress', { detail: t.progress }));
    });
    sync.addEventListener('source-failed', (e) => {
      t.sources = sync.sources();
      events.dispatchEvent(new CustomEvent('source-failed', { detail: e.detail }));
    });
    await sync.run(t.target!, { signal });
    t.state = 'ok';
    t.error = undefined;
    t.failures = 0;
    t.progress = undefined;
    t.syncedAt = Date.now();
    events.dispatchEvent(new CustomEvent('synced', { detail: { logId, checkpoint: store.checkpoint()! } }));
  } catch (err) {
    if (t.stopped) return;
    if (signal.reason instanceof SliceEnded) {
      t.state = 'ok'; // back in line (schedule makes it 'syncing' again), not failed
      return;
    }
    ended(t, asError(err), c);
  }
}

/** A sync that ended with `error`: paused, forked, or failed (retried unless final). */
function ended(t: Tracked, error: Error, c: SyncAttemptContext): void {
  const { logId } = t.followed;
  const { events } = c;
  t.error = error;
  const later = (ms: number) => {
    t.retry = setTimeout(() => {
      t.retry = undefined;
      c.schedule(t);
    }, ms);
    t.retry.unref();
  };
  if (error instanceof DiskSpaceError) {
    // Not the log's fault: wait for space, holding no slot; its verified steps stay staged.
    t.state = 'paused';
    log.error('log %s: %s', logId, error.message);
    later(c.init.diskCheckMs);
    events.dispatchEvent(new CustomEvent('paused', { detail: { logId, error } }));
    return;
  }
  if (error instanceof LogForkError) {
    t.state = 'forked';
    events.dispatchEvent(new CustomEvent('fork', { detail: { logId, error } }));
    return;
  }
  t.state = 'failed';
  t.failures++;
  if (!isFinal(error)) {
    const delay = Math.min(c.init.maxRetryDelayMs, c.init.retryDelayMs * 2 ** (t.failures - 1));
    log.error('sync of log %s failed (retry in %d ms): %s', logId, delay, error.message);
    later(delay);
  } else log.error('log %s is no longer synced: %s', logId, error.message);
  events.dispatchEvent(new CustomEvent('sync-failed', { detail: { logId, error } }));
}
