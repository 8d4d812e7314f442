/**
 * The follower: for every followed log (node/store/followed-logs.ts) a local copy (LogStore) that it keeps up
 * with the newest signed checkpoint it is told about (`notify`, from gossip) or asks sources for
 * (`refresh`), through verified syncs (node/sync/log-sync.ts).
 *
 * One sync per log at a time, at most `maxConcurrentSyncs` logs at once (the others wait in line), plus
 * one extra slot for a small catch-up (`smallSyncEntries`); a sync that used its time slice (`sliceMs`)
 * while a log waits yields its slot and goes to the back of the line, resuming from its staged steps, so
 * a slow builder (or slow sources) cannot hold a slot forever (node/sync/sync-slots.ts). A
 * checkpoint that arrives during a sync is synced right after it. What a sync's end makes of the log:
 * node/sync/sync-attempt.ts. A failed sync is retried with
 * exponential back-off, or at once when a newer checkpoint arrives. A sync that gossip brought, for a log
 * at most smallSyncEntries behind (a first sync too), starts after a random delay of up to syncJitterMs, so
 * that the followers who hear of a checkpoint at the same moment start one after another and the later
 * ones fetch from the earlier ones, not all from the builder (docs/SCALE.md). A fork stops the log for good
 * (state 'forked'); a log holding a non-entry or beyond the limits (maxTreeSize, maxGrowth) stops too
 * (state 'failed', not retried: checked before anything is planned, so also at restart). An interrupted
 * sync is resumed on start. With the data directory's disk below the low-disk watermark (minFreeBytes),
 * syncs pause before their next write (state 'paused', ERR_DISK_LOW, holding no slot) and are tried again
 * every diskCheckMs. Unfollowing stops the log's sync and keeps its data (following it again
 * continues from there).
 */

import { TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { openCheckpoint, type SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { asError, StoppedError, SyncFailedError } from '../errors.ts';
import type { Database } from '../store/database.ts';
import type { FollowedLog, FollowedLogs } from '../store/followed-logs.ts';
import { LogStore } from '../store/log-store.ts';
import { DiskWatermark, MIN_FREE_BYTES } from './disk-watermark.ts';
import { type FollowedLogStatus, statusOf, type Tracked } from './follow-status.ts';
import type { LogSyncInit } from './log-sync.ts';
import { type FollowerEvents, isFinal, syncAttempt } from './sync-attempt.ts';
import { SyncSlots } from './sync-slots.ts';
import { SyncStage, type VerifiedBundle } from './sync-stage.ts';
import { latestCheckpoint, type TileSource } from './tile-source.ts';

export type { FollowerEvents } from './sync-attempt.ts';

const log = logger('trustix:follower');

export interface FollowerComponents {
  readonly db: Database;
  readonly followed: FollowedLogs;
  /** Sources for a log: its providers, with `hint` (the source that told us of a checkpoint) first. */
  sourcesFor(logId: string, hint?: string): Promise<readonly TileSource[]> | readonly TileSource[];
  /**
   * The sources of `peers` (PeerId strings a busy source named as the log's holders, unchecked), leaving
   * out what is no PeerId, ourselves and peers banned for the log. Default: none (no peer exchange).
   */
  sourcesOf?(logId: string, peers: readonly string[]): readonly TileSource[];
  /** Whether the log is known to be forked (the checkpoint monitor's verdict). Default: never. */
  isForked?(logId: string): boolean;
  /** Told of what each sync stores, step by step (LogSyncComponents.stored). */
  stored?(logId: string, bundles: readonly VerifiedBundle[]): Promise<void>;
  /**
   * Peers connected now, for saying why a log has no source yet (`isolated`). Default: unknown (the
   * reason then never says isolated).
   */
  connectedPeers?(): number;
  /**
   * Where refresh hands the checkpoint it found, for a log whose checkpoints must pass a gate first (a
   * witness quorum, node/monitor/quorum-gate.ts): true when it took it (it calls notify once the
   * checkpoint may be the log's newest). Default: never; refresh notifies directly.
   */
  offer?(logId: string, note: Uint8Array, from: string): boolean;
  /**
   * A random number in [0, 1): the start delay of syncs (FollowerInit.syncJitterMs) and the order a sync
   * is given its sources in (node/sync/sync-attempt.ts). Default Math.random.
   */
  random?(): number;
  /** The data directory, whose file system's free space the low-disk watermark is checked on. */
  readonly dataDir?: string;
}

export interface FollowerInit extends LogSyncInit {
  /** Logs synced at once. Default 2. */
  readonly maxConcurrentSyncs?: number;
  /**
   * Low-disk watermark: bytes that must stay free on the data directory's file system (statfs) for a
   * sync to write; below it syncs pause. Default 1 GiB; 0: never pause. Needs components.dataDir.
   */
  readonly minFreeBytes?: number;
  /** How often a paused log checks the free space again, in ms. Default 30,000. */
  readonly diskCheckMs?: number;
  /**
   * Time slice of a sync, in ms: past it, a sync yields its slot when another log waits (its verified
   * steps stay staged; it resumes from them when its turn comes again). Default 60,000.
   */
  readonly sliceMs?: number;
  /**
   * A log this many entries or fewer behind its target may sync in one extra slot when all are taken
   * (a small catch-up never waits behind big syncs). Default 4,096 (one step); 0: no extra slot.
   */
  readonly smallSyncEntries?: number;
  /**
   * Longest random start delay of a sync that gossip brought (notify with a sender), in ms: drawn
   * uniformly from 0 to this, for a log at most smallSyncEntries behind, a first sync of a small log
   * too (never for a sync far behind, refresh, or a checkpoint handed over without a sender). Followers
   * told of a checkpoint within the propagation time then start one after another and the later ones
   * fetch from the earlier ones, which works only when the delays spread wider than a sync lasts (1-2 s
   * for a few thousand entries on a loaded machine). A new log's first checkpoint is such a moment: at
   * N = 50 every follower asked its builder at once, and some gave up on it, overloaded (docs/SCALE.md).
   * Default 3,000: in the swarm bench (docs/SCALE.md,
   * "Sync start delay") 1,000 left the builder's share of the tile bytes at 84-92%, 3,000 brought it
   * from 80-93% to 42-61%, for at most 3 s more before a follower holds a checkpoint; 0: none.
   */
  readonly syncJitterMs?: number;
  /** First retry after a failed sync, in ms; doubles per failure. Default 5,000. */
  readonly retryDelayMs?: number;
  /** Longest retry delay, in ms. Default 600,000. */
  readonly maxRetryDelayMs?: number;
  /** Time for a source to give its checkpoint (refresh), in ms. Default 10,000. */
  readonly checkpointTimeoutMs?: number;
  /**
   * Ask the sources for the checkpoint of a newly followed log (and of one not heard of since a restart),
   * again after retryDelayMs, doubling, until one answers. Default true.
   */
  readonly refreshOnFollow?: boolean;
  /** Longest wait between two lookups of a log no source has answered for, in ms. Default 60,000. */
  readonly maxSearchDelayMs?: number;
  /**
   * Log IDs never opened or synced here, even when followed: the node's own log, which its sequencer
   * writes (a second writer on the same keys would corrupt it). Default none.
   */
  readonly exclude?: readonly string[];
}

/** What notify made of a checkpoint. */
export type NotifyOutcome = 'unfollowed' | 'invalid' | 'old' | 'forked' | 'new';

export class Follower extends TypedEventEmitter<FollowerEvents> {
  private readonly components: FollowerComponents;
  private readonly init: FollowerInit & Required<Omit<FollowerInit, keyof LogSyncInit>>;
  private readonly logs = new Map<string, Tracked>();
  private readonly slots: SyncSlots;
  private readonly watermark: DiskWatermark | undefined;
  private started = false;
  private readonly random = () => this.components.random?.() ?? Math.random();
  private readonly onFollowed = (e: CustomEvent<FollowedLog>) => void this.track(e.detail, true);
  private readonly onUnfollowed = (e: CustomEvent<FollowedLog>) => this.untrack(e.detail.logId);

  constructor(components: FollowerComponents, init: FollowerInit = {}) {
    super();
    this.components = components;
    this.init = {
      maxConcurrentSyncs: 2,
      minFreeBytes: MIN_FREE_BYTES,
      diskCheckMs: 30_000,
      sliceMs: 60_000,
      smallSyncEntries: 4_096,
      syncJitterMs: 3_000,
      retryDelayMs: 5_000,
      maxRetryDelayMs: 600_000,
      checkpointTimeoutMs: 10_000,
      refreshOnFollow: true,
      maxSearchDelayMs: 60_000,
      exclude: [],
      ...init,
    };
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
        this.undelay(t);
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
    if (!jitter) this.undelay(t);
    else if (t.delay === undefined && this.delays(t)) {
      const ms = Math.floor(this.random() * this.init.syncJitterMs);
      log('log %s: syncing to %d in %d ms', logId, cp.size, ms);
      t.delay = setTimeout(() => {
        t.delay = undefined;
        this.schedule(t);
      }, ms);
      t.delay.unref();
    }
    this.schedule(t);
    return 'new';
  }

  /** Whether a sync that gossip brought starts after a random delay (FollowerInit.syncJitterMs). */
  private delays(t: Tracked): boolean {
    const behind = (t.target?.size ?? 0) - (t.store?.size ?? 0);
    return (
      this.init.syncJitterMs > 0 &&
      behind <= this.init.smallSyncEntries &&
      t.running === undefined &&
      !t.queued
    );
  }

  /** Cancels the start delay of the log's sync, if one runs. */
  private undelay(t: Tracked): void {
    clearTimeout(t.delay);
    t.delay = undefined;
  }

  /**
   * Asks the log's sources for their checkpoints and syncs to the largest valid one. A source that
   * answers with a checkpoint that does not verify is reported ('source-failed', invalid). Returns the
   * largest size found (undefined when no source had one).
   */
  async refresh(logId: string): Promise<number | undefined> {
    const t = this.logs.get(logId);
    if (t === undefined) return undefined;
    const sources = await this.components.sourcesFor(logId);
    let unreachable = 0;
    let invalid = 0;
    const best = await latestCheckpoint(sources, t.followed.key, {
      timeoutMs: this.init.checkpointTimeoutMs,
      onFailed: (detail) => {
        if (['busy', 'timeout', 'unavailable'].includes(detail.reason)) unreachable++;
        else invalid++;
        this.dispatchEvent(new CustomEvent('source-failed', { detail }));
      },
    });
    // What `trustix logs` says of a log still searched for (docs/CLI.md).
    t.lookup = { at: Date.now(), sources: sources.length, unreachable, invalid };
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
    if (this.init.refreshOnFollow && (isNew || !t.heard)) void this.search(t, this.init.retryDelayMs);
  }

  /** Asks the sources for a log not heard of yet; again after `delay` (doubling) until one answers. */
  private async search(t: Tracked, delay: number): Promise<void> {
    const { logId } = t.followed;
    try {
      await this.refresh(logId);
    } catch (err) {
      log('looking for log %s failed: %s', logId, err);
    }
    if (t.stopped || t.heard || this.logs.get(logId) !== t) return;
    log('no source answered for log %s yet: looking again in %d ms', logId, delay);
    t.nextLookupAt = Date.now() + delay;
    t.search = setTimeout(() => {
      t.search = undefined;
      void this.search(t, Math.min(delay * 2, this.init.maxSearchDelayMs));
    }, delay);
    t.search.unref();
  }

  private async untrack(logId: string): Promise<void> {
    const t = this.logs.get(logId);
    if (t === undefined) return;
    this.logs.delete(logId);
    t.stopped = true;
    clearTimeout(t.retry);
    clearTimeout(t.search);
    this.undelay(t);
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
