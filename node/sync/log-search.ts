/**
 * The search for a followed log's newest checkpoint at its sources: one lookup (the follower's refresh)
 * asks every source and keeps on the log's record what it found, for `trustix logs`; a log not heard of
 * yet is looked up again, with a doubling delay, until a source answers. Apart from the follower because
 * the lookups and their back-off are a lifecycle of their own beside the log's syncs (the routing table
 * may still be empty when a log is followed at start).
 */
import type { TypedEventTarget } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import type { Tracked } from './follow-status.ts';
import type { FollowerEvents } from './sync-attempt.ts';
import { latestCheckpoint, type TileSource } from './tile-source.ts';

const log = logger('trustix:follower');

export interface LogSearchContext {
  sourcesFor(logId: string): Promise<readonly TileSource[]> | readonly TileSource[];
  readonly init: { readonly checkpointTimeoutMs: number; readonly maxSearchDelayMs: number };
  /** Where the lookups' events go (the follower). */
  readonly events: TypedEventTarget<FollowerEvents>;
  /** One lookup of the log, its checkpoint taken (the follower's refresh). */
  refresh(logId: string): Promise<unknown>;
  /** The record of a followed log now (undefined once unfollowed). */
  tracked(logId: string): Tracked | undefined;
}

export class LogSearch {
  private readonly c: LogSearchContext;

  constructor(context: LogSearchContext) {
    this.c = context;
  }

  /**
   * Asks the log's sources for their checkpoints: the largest valid one (undefined when no source had
   * one). A source that answers with a checkpoint that does not verify is reported ('source-failed',
   * invalid).
   */
  async lookup(t: Tracked): Promise<{ source: TileSource; checkpoint: SignedCheckpoint } | undefined> {
    const { logId } = t.followed;
    const sources = await this.c.sourcesFor(logId);
    let unreachable = 0;
    let invalid = 0;
    const best = await latestCheckpoint(sources, t.followed.key, {
      timeoutMs: this.c.init.checkpointTimeoutMs,
      onFailed: (detail) => {
        if (['busy', 'timeout', 'unavailable'].includes(detail.reason)) unreachable++;
        else invalid++;
        this.c.events.dispatchEvent(new CustomEvent('source-failed', { detail }));
      },
    });
    // What `trustix logs` says of a log still searched for (docs/CLI.md).
    t.lookup = { at: Date.now(), sources: sources.length, unreachable, invalid };
    return best;
  }

  /** Asks the sources for a log not heard of yet; again after `delay` (doubling) until one answers. */
  async search(t: Tracked, delay: number): Promise<void> {
    const { logId } = t.followed;
    try {
      await this.c.refresh(logId);
    } catch (err) {
      log('looking for log %s failed: %s', logId, err);
    }
    if (t.stopped || t.heard || this.c.tracked(logId) !== t) return;
    log('no source answered for log %s yet: looking again in %d ms', logId, delay);
    t.nextLookupAt = Date.now() + delay;
    t.search = setTimeout(() => {
      t.search = undefined;
      void this.search(t, Math.min(delay * 2, this.c.init.maxSearchDelayMs));
    }, delay);
    t.search.unref();
  }
}
