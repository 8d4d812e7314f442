/**
 * The follower: for every followed log (node/store/followed-logs.ts) a local copy (LogStore) that it keeps up
 * with the newest signed checkpoint it is told about (`notify`, from gossip) or asks sources for
 * (`refresh`), through verified syncs (node/sync/log-sync.ts).
 *
 * One sync per log at a time, at most `maxConcurrentSyncs` logs at once (the others wait in line), plus one
 * extra slot for a small catch-up (`smallSyncEntries`); a sync that used its time slice (`sliceMs`) while a
 * log waits yields its slot and goes to the back of the line, resuming from its staged steps, so a slow
 * builder (or slow sources) cannot hold a slot forever (node/sync/sync-slots.ts). A checkpoint that arrives
 * during a sync is synced right after it. What a sync's end makes of the log: node/sync/sync-attempt.ts. A
 * failed sync is retried with exponential back-off, or at once when a newer checkpoint arrives. A sync that
 * gossip brought, for a log at most smallSyncEntries behind (a first sync too), starts after a random delay
 * of up to syncJitterMs, so that the followers who hear of a checkpoint at the same moment start one after
 * another and the later ones fetch from the earlier ones, not all from the builder (docs/SCALE.md;
 * node/sync/sync-start-delay.ts). A log not heard of yet is looked for until a source answers
 * (node/sync/log-search.ts). A fork stops the log for good (state 'forked'); a log holding a non-entry or
 * beyond the limits (maxTreeSize, maxGrowth) stops too (state 'failed', not retried: checked before anything
 * is planned, so also at restart). An interrupted sync is resumed on start. With the data directory's disk
 * below the low-disk watermark (minFreeBytes), syncs pause before their next write (state 'paused',
 * ERR_DISK_LOW, holding no slot) and are tried again every diskCheckMs. Unfollowing stops the log's sync and
 * keeps its data (following it again continues from there). What the follower is given and its settings:
 * node/sync/follower-settings.ts.
 */

import { TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { openCheckpoint, type SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { asError, StoppedError, SyncFailedError } from '../errors.ts';
import type { FollowedLog } from '../store/followed-logs.ts';
import { LogStore } from '../store/log-store.ts';
import { DiskWatermark } from './disk-watermark.ts';
import { type FollowedLogStatus, statusOf, type Tracked } from './follow-status.ts';
import {
  type FollowerComponents,
  type FollowerInit,
  type FollowerSettings,
  followerSettings,
} from './follower-settings.ts';
import { LogSearch } from './log-search.ts';
import { type FollowerEvents, isFinal, syncAttempt } from './sync-attempt.ts';
import { SyncSlots } from './sync-slots.ts';
import { SyncStage, type VerifiedBundle } from './sync-stage.ts';
import { SyncStartDelay } from './sync-start-delay.ts';

export type { FollowerComponents, FollowerInit } from './follower-settings.ts';
export type { FollowerEvents } from './sync-attempt.ts';

const log = logger('trustix:follower');

/** What notify made of a checkpoint. */
export type NotifyOutcome = 'unfollowed' | 'invalid' | 'old' | 'forked' | 'new';

export class Follower extends TypedEventEmitter<FollowerEvents> {
  private readonly components: FollowerComponents;
  private readonly init: FollowerSettings;
  private readonly logs = new Map<string, Tracked>();
  private readonly slots: SyncSlots;
  private readonly startDelay: SyncStartDelay;
  private readonly logSearch: LogSearch;
  private readonly watermark: DiskWatermark | undefined;
  private started = false;
  private readonly random = () => this.components.random?.() ?? Math.random();
  private readonly onFollowed = (e: CustomEvent<FollowedLog>) => void this.track(e.detail, true);
  private readonly onUnfollowed = (e: CustomEvent<FollowedLog>) => this.untrack(e.detail.logId);

  constructor(components: FollowerComponents, init: FollowerInit = {}) {
    super();
    this.components = components;
    this.init = followerSettings(init);
    const { dataDir } = components;
    if (dataDir !== undefined && this.init.minFreeBytes > 0)
      this.watermark = new DiskWatermark(dataDir, this.init.minFreeBytes);
    const attempt = {
      db: components.db,
      sourcesFor: (id: string, hint?: string) => components.sourcesFor(id, hint),
      ...(components.sourcesOf && {
        sourcesOf: (id: string, peers: readonly string[]) => components.sourcesOf!(id, peers),
      }),
      ...(components.stored && {
        stored: (id: string, bundles: readonly VerifiedBundle[]) => components.stored!(id, bundles),
      }),
      watermark: this.watermark,
      init: this.init,
      events: this,
      schedule: (t: Tracked) => this.schedule(t),
      random: this.random,
    };
    this.slots = new SyncSlots(
      this.init,
      (t, signal) => syncAttempt(t, signal, attempt),
      (t) => this.schedule(t),
    );
    this.startDelay = new SyncStartDelay(this.init, this.random, (t) => this.schedule(t));
    this.logSearch = new LogSearch({
      sourcesFor: (id: string) => components.sourcesFor(id),
      init: this.init,
      events: this,
      refresh: (id: string) => this.refresh(id),
      tracked: (id: string) => this.logs.get(id),
    });
  }

  /** Opens the local copy of every followed log and resumes interrupted syncs. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { followed } = this.components;
    followed.addEventListener('followed', this.onFollowed);
    followed.addEventListener('unfollowed', this.onUnfollowed);
    await Promise.all(followed.list().map((f) => this.track(f, false)));
  }

  /** Stops every sync (their verified steps stay stored) and waits for them. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const { followed } = this.components;
    followed.removeEventListener('followed', this.onFollowed);
    followed.removeEventListener('unfollowed', this.onUnfollowed);
    const running = [...this.logs.keys()].map((id) => this.untrack(id));
    await Promise.all(running);
  }

  /**
   * A checkpoint of a followed log, e.g. accepted from gossip (`from`: the peer that sent it, asked
   * first). Verified with the log key; one larger than the target is synced to. Smaller or equal ones
   * are 'old' here: the checkpoint monitor checks those against the held copy (get(logId)).
   */
  notify(logId: string, note: Uint8Array, from?: string): NotifyOutcome {
    return this.take(logId, note, from, from !== undefined);
  }

  /** notify's work; `jitter`: whether the sync may start after a random delay (one gossip brought). */
  private take(logId: string, note: Uint8Array, from: string | undefined, jitter: boolean): NotifyOutcome {
    const t = this.logs.get(logId);
    if (t === undefined) return 'unfollowed';
    let cp: SignedCheckpoint;
    try {
      cp = openCheckpoint(note, t.followed.key.verifier);
    } catch {
      return 'invalid';
    }
    if (t.state !== 'forked' && this.components.isForked?.(logId) === true) t.state = 'forked';
    t.heard = true;
    clearTimeout(t.search);
    t.search = undefined;
    if (t.state === 'forked') return 'forked';
    if (cp.size <= Math.max(t.target?.size ?? 0, t.store?.size ?? 0)) {
      // Asked for without gossip (refresh): a sync waiting for its start delay starts now.
      if (!jitter && t.delay !== undefined) {
        this.startDelay.undelay(t);
        this.schedule(t);
      }
      return 'old';
    }
    t.target = cp;
    if (from !== undefined) t.hint = from;
    if (t.state === 'failed' && !isFinal(t.error)) {
      // Something new to try with: retry now rather than after the back-off.
      clearTimeout(t.retry);
      t.retry = undefined;
      t.state = 'ok';
    }
    if (!jitter) this.startDelay.undelay(t);
    else if (t.delay === undefined && this.startDelay.delays(t)) this.startDelay.delay(t);
    this.schedule(t);
    return 'new';
  }

  /**
   * Asks the log's sources for their checkpoints and syncs to the largest valid one. A source that
   * answers with a checkpoint that does not verify is reported ('source-failed', invalid). Returns the
   * largest size found (undefined when no source had one).
   */
  async refresh(logId: string): Promise<number | undefined> {
    const t = this.logs.get(logId);
    if (t === undefined) return undefined;
    const best = await this.logSearch.lookup(t);
    if (best !== undefined && this.components.offer?.(logId, best.checkpoint.note, best.source.id) !== true)
      this.take(logId, best.checkpoint.note, best.source.id, false);
    return best?.checkpoint.size;
  }

  /** The local copy of a followed log (to serve it, to read entries), or undefined. */
  get(logId: string): LogStore | undefined {
    return this.logs.get(logId)?.store;
  }

  /** The local copies of every followed log that could be opened. */
  list(): LogStore[] {
    return [...this.logs.values()].flatMap((t) => (t.store === undefined ? [] : [t.store]));
  }

  /**
   * A log the checkpoint monitor holds evidence against is 'forked' whatever the sizes: a second history
   * of the same size as the mirrored one never reaches a sync, yet the key signed two histories.
   */
  status(logId: string): FollowedLogStatus | undefined {
    const t = this.logs.get(logId);
    if (t === undefined) return undefined;
    if (t.state !== 'forked' && this.components.isForked?.(logId) === true) t.state = 'forked';
    return statusOf(t, { connectedPeers: this.components.connectedPeers?.() });
  }

  /** Whether a sync runs or waits for a slot: the node is in a burst of work (node/runtime/memory-releaser.ts). */
  get syncing(): boolean {
    for (const t of this.logs.values()) if (t.running !== undefined || t.queued) return true;
    return false;
  }

  statuses(): FollowedLogStatus[] {
    return this.components.followed.list().flatMap((f) => this.status(f.logId) ?? []);
  }

  /**
   * Resolves once the log's verified size reaches `size` (default: its target now); rejects when the log
   * is unfollowed, forked, or its sync fails.
   */
  whenSynced(logId: string, size?: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const s = this.status(logId);
        if (s === undefined) return done(new SyncFailedError(logId, 'the log is not followed'));
        if (s.verifiedSize >= (size ?? s.targetSize)) return done();
        if (s.state === 'forked' || s.state === 'failed')
          return done(this.logs.get(logId)?.error ?? new SyncFailedError(logId, `the log is ${s.state}`));
      };
      const events = ['synced', 'fork', 'sync-failed', 'paused'] as const;
      const done = (err?: Error) => {
        for (const e of events) this.removeEventListener(e, check);
        if (err === undefined) resolve();
        else reject(err);
      };
      for (const e of events) this.addEventListener(e, check);
      check();
    });
  }

  private async track(followed: FollowedLog, isNew: boolean): Promise<void> {
    // A light log keeps no copy (node/network/light-logs.ts): one switched to light stops syncing, and
    // its copy stays (following it full again continues from there).
    if (followed.light) {
      await this.untrack(followed.logId);
      return;
    }
    if (this.init.exclude.includes(followed.logId)) {
      log('not syncing log %s: excluded (the node writes it itself)', followed.logId);
      return;
    }
    const previous = this.logs.get(followed.logId);
    if (previous !== undefined) {
      previous.followed = followed; // name or weight changed
      return;
    }
    const t: Tracked = {
      followed,
      state: 'ok',
      queued: false,
      sources: [],
      stopped: false,
      failures: 0,
      heard: false,
    };
    this.logs.set(followed.logId, t);
    try {
      t.store = await LogStore.open(this.components.db, followed.key);
      const staged = await new SyncStage(this.components.db, t.store).load();
      // An interrupted sync: resume it (its target is signed and verified).
      if (staged !== undefined && staged.checkpoint.size > (t.target?.size ?? 0))
        t.target = staged.checkpoint;
      t.heard = t.heard || t.store.size > 0 || staged !== undefined;
    } catch (err) {
      log.error('cannot open the local copy of log %s: %s', followed.logId, err);
      t.state = 'failed';
      t.error = asError(err);
      return;
    }
    if (t.stopped) return;
    this.schedule(t);
    // Look for it now (its newest checkpoint from the providers the DHT names), and again until a source
    // answers: the routing table may still be empty when a log is followed at start.
    if (this.init.refreshOnFollow && (isNew || !t.heard))
      void this.logSearch.search(t, this.init.retryDelayMs);
  }

  private async untrack(logId: string): Promise<void> {
    const t = this.logs.get(logId);
    if (t === undefined) return;
    this.logs.delete(logId);
    t.stopped = true;
    clearTimeout(t.retry);
    clearTimeout(t.search);
    this.startDelay.undelay(t);
    this.slots.leave(t);
    t.abort?.abort(new StoppedError('stopped'));
    await t.running;
  }

  private schedule(t: Tracked): void {
    if (t.stopped || t.running !== undefined || t.queued || t.store === undefined) return;
    if (t.state === 'forked' || t.retry !== undefined || t.delay !== undefined) return;
    if (t.state === 'failed' && isFinal(t.error)) return;
    if (this.components.isForked?.(t.followed.logId) === true) {
      t.state = 'forked';
      return;
    }
    if (t.target === undefined || t.target.size <= t.store.size) {
      t.state = t.state === 'failed' ? 'failed' : 'ok';
      return;
    }
    t.state = 'syncing';
    this.slots.enter(t);
  }
}
