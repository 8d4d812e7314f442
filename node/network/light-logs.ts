/**
 * Light logs: followed logs of which this node keeps no copy (docs/SECURITY.md "Light logs"). What it
 * keeps of one is what the checkpoint monitor keeps of every followed log: a bounded history of the
 * checkpoints seen (node/monitor/checkpoint-records.ts, `historySize`), the largest of them known to be
 * on the log's checked chain being its newest verified checkpoint; plus, in memory, the lookup client's
 * byte-bounded cache of verified answers. Nothing grows with the log's size.
 *
 * Checkpoints come in through the monitor, as for full logs (gossip, or a source's answer handed to the
 * monitor's validator on follow): the monitor verifies the signature, stores it, and makes evidence for
 * two roots of one size. A larger checkpoint is pending there until this module checks it: it fetches
 * the few hash tiles it needs over the tile exchange into a RemoteTree verified against the new root
 * (node/sync/remote-tree.ts), and lets the monitor check every earlier checkpoint in its history against
 * that tree (CheckpointMonitor.checkTree, the full follower's path): consistent ones become checked,
 * the new one becomes the log's newest verified checkpoint, and a disagreement becomes fork evidence,
 * gossiped as a full node's. A source that sends tiles that do not verify is banned for the log.
 *
 * The vote asks `entries` (node/vote/decisions.ts, LightVotes): the lookup client
 * (node/network/lookup-client.ts) at the newest verified checkpoint.
 *
 * What the light logs are given and their settings are node/network/light-logs-init.ts; what is kept of
 * one light log and its status, node/network/light-log.ts; the check of its pending checkpoints,
 * node/network/light-log-checks.ts.
 */
import { TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import { formatCheckpointMessage } from '../../protocol/gossip-message.ts';
import type { Hash } from '../../protocol/merkle.ts';
import { asError } from '../errors.ts';
import type { CheckpointEvent, NewestEvent } from '../monitor/checkpoint-verdict.ts';
import type { FollowedLog } from '../store/followed-logs.ts';
import type { FollowedLogStatus } from '../sync/follow-status.ts';
import { latestCheckpoint } from '../sync/tile-source.ts';
import type { LightAnswer, LightVotes } from '../vote/decisions.ts';
import { type LightLog, lightLogStatus } from './light-log.ts';
import { LightLogChecks } from './light-log-checks.ts';
import {
  type LightLogsComponents,
  type LightLogsInit,
  type LightLogsSettings,
  lightLogsSettings,
} from './light-logs-init.ts';

const log = logger('trustix:light');

export interface LightLogsEvents {
  /** A light log's newest verified checkpoint moved. */
  verified: CustomEvent<{ logId: string; size: number }>;
}

export class LightLogs extends TypedEventEmitter<LightLogsEvents> implements LightVotes {
  private readonly components: LightLogsComponents;
  private readonly init: LightLogsSettings;
  private readonly logs = new Map<string, LightLog>();
  private readonly checks: LightLogChecks;
  private readonly onFollowed = (e: CustomEvent<FollowedLog>) => {
    if (e.detail.light) this.track(e.detail, true);
    else this.untrack(e.detail.logId);
  };
  private readonly onUnfollowed = (e: CustomEvent<FollowedLog>) => this.untrack(e.detail.logId);
  /** A checkpoint that reached its witness quorum (cosignatures came by gossip) may move the head. */
  private readonly onNewest = (e: CustomEvent<NewestEvent>) => {
    const l = this.logs.get(e.detail.logId);
    if (l !== undefined) this.check(l);
  };

  private readonly onCheckpoint = (e: CustomEvent<CheckpointEvent>) => {
    const l = this.logs.get(e.detail.logId);
    if (l === undefined) return;
    if (e.detail.from !== undefined) {
      l.hint = e.detail.from;
      this.components.lookups.hint(l.followed.logId, e.detail.from);
    }
    l.seen = Math.max(l.seen, e.detail.checkpoint.size);
    this.check(l);
  };
  private readonly onFork = (e: CustomEvent<{ logId: string }>) => {
    const l = this.logs.get(e.detail.logId);
    if (l !== undefined)
      this.dispatchEvent(
        new CustomEvent('verified', { detail: { logId: l.followed.logId, size: l.head?.size ?? 0 } }),
      );
  };

  constructor(components: LightLogsComponents, init: LightLogsInit = {}) {
    super();
    this.components = components;
    this.init = lightLogsSettings(init);
    this.checks = new LightLogChecks(components, this.init);
  }

  async start(): Promise<void> {
    this.checks.start();
    const { followed, monitor } = this.components;
    followed.addEventListener('followed', this.onFollowed);
    followed.addEventListener('unfollowed', this.onUnfollowed);
    monitor.addEventListener('checkpoint', this.onCheckpoint);
    monitor.addEventListener('newest', this.onNewest);
    monitor.addEventListener('fork', this.onFork);
    for (const f of followed.list()) if (f.light) this.track(f, false);
  }

  async stop(): Promise<void> {
    const { followed, monitor } = this.components;
    followed.removeEventListener('followed', this.onFollowed);
    followed.removeEventListener('unfollowed', this.onUnfollowed);
    monitor.removeEventListener('checkpoint', this.onCheckpoint);
    monitor.removeEventListener('newest', this.onNewest);
    monitor.removeEventListener('fork', this.onFork);
    this.checks.stop();
    const running = [...this.logs.values()].map((l) => l.checking);
    for (const id of [...this.logs.keys()]) this.untrack(id);
    await Promise.allSettled(running);
  }

  isLight(logId: string): boolean {
    return this.logs.has(logId);
  }

  verifiedSize(logId: string): number {
    return this.logs.get(logId)?.head?.size ?? 0;
  }

  /** The newest verified checkpoint of a light log (size and root), or undefined. */
  head(logId: string): { size: number; root: Hash } | undefined {
    return this.logs.get(logId)?.head;
  }

  /** Lookup exchanges made so far (answers from the lookup cache not counted), for benchmarks. */
  lookupExchanges(): number {
    return this.components.lookups.exchanges;
  }

  async entries(logId: string, hashPart: string): Promise<LightAnswer> {
    const head = this.logs.get(logId)?.head;
    // No verified checkpoint yet (or an empty tree): the log holds nothing we could check.
    if (head === undefined || head.size === 0) return { kind: 'entries', entries: [] };
    const result = await this.components.lookups.lookup(logId, hashPart, head);
    return result;
  }

  /**
   * Resolves once the light log's newest verified checkpoint reaches `size`; rejects when it is
   * unfollowed or forked.
   */
  whenVerified(logId: string, size: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const l = this.logs.get(logId);
        if (l === undefined) return done(new Error(`log ${logId} is not followed light`));
        if (this.components.monitor.isForked(logId)) return done(new Error(`log ${logId} is forked`));
        if ((l.head?.size ?? 0) >= size) done();
      };
      const done = (err?: Error) => {
        this.removeEventListener('verified', check);
        if (err === undefined) resolve();
        else reject(err);
      };
      this.addEventListener('verified', check);
      check();
    });
  }

  /** The status of a light log, as `trustix logs` shows it. */
  status(logId: string): FollowedLogStatus | undefined {
    const l = this.logs.get(logId);
    if (l === undefined) return undefined;
    return lightLogStatus(logId, l, this.components.monitor.isForked(logId));
  }

  statuses(): FollowedLogStatus[] {
    return this.components.followed.list().flatMap((f) => this.status(f.logId) ?? []);
  }

  private track(followed: FollowedLog, isNew: boolean): void {
    const old = this.logs.get(followed.logId);
    if (old !== undefined) {
      old.followed = followed;
      return;
    }
    const l: LightLog = { followed, seen: 0, again: false, delay: this.init.retryDelayMs, stopped: false };
    this.logs.set(followed.logId, l);
    log('following %s (%s) light', followed.name, followed.logId);
    void this.load(l, isNew);
  }

  private untrack(logId: string): void {
    const l = this.logs.get(logId);
    if (l === undefined) return;
    l.stopped = true;
    clearTimeout(l.retry);
    this.logs.delete(logId);
    this.components.lookups.forget(logId);
  }

  /** The monitor's view of the log at start; then a search of its sources when nothing is known yet. */
  private async load(l: LightLog, isNew: boolean): Promise<void> {
    const { logId } = l.followed;
    try {
      await this.components.monitor.keep(logId);
      await this.reloadHead(l);
      const latest = await this.components.monitor.latest(logId);
      if (latest !== undefined)
        l.seen = Math.max(l.seen, openCheckpoint(latest, l.followed.key.verifier).size);
    } catch (err) {
      log.error('loading light log %s: %s', logId, err);
    }
    if (l.stopped) return;
    this.check(l);
    if (isNew || l.head === undefined) void this.search(l);
  }

  /** Asks the log's sources for their checkpoints and hands the largest to the monitor (as gossip would). */
  private async search(l: LightLog): Promise<void> {
    const { key, logId } = l.followed;
    try {
      const sources = await this.components.sourcesFor(logId);
      const best = await latestCheckpoint(sources, key, {
        timeoutMs: this.init.checkpointTimeoutMs,
        onFailed: (e) => this.components.onSourceFailed(e),
      });
      if (best !== undefined) {
        this.components.lookups.hint(logId, best.source.id);
        const message = formatCheckpointMessage(key.vkey, best.checkpoint.note);
        await this.components.monitor.validate(message, best.source.id);
        // A checkpoint the monitor already had is no event: check what it holds.
        this.check(l);
      }
      if (best !== undefined || l.stopped) return;
    } catch (err) {
      log('looking for light log %s failed: %s', logId, err);
    }
    if (l.stopped || l.head !== undefined) return;
    l.retry = setTimeout(() => void this.search(l), l.delay);
    l.retry.unref();
    l.delay = Math.min(l.delay * 2, this.init.maxRetryDelayMs);
  }

  /** Checks the log's pending checkpoints (one check at a time per log; a request meanwhile runs after). */
  private check(l: LightLog): void {
    if (l.stopped) return;
    if (l.checking !== undefined) {
      l.again = true;
      return;
    }
    l.again = false;
    l.checking = this.checkPending(l)
      .then(
        () => {
          l.error = undefined;
          l.delay = this.init.retryDelayMs;
        },
        (err: unknown) => {
          if (l.stopped) return;
          l.error = asError(err);
          log(
            'checking light log %s failed (again in %d ms): %s',
            l.followed.logId,
            l.delay,
            l.error.message,
          );
          clearTimeout(l.retry);
          l.retry = setTimeout(() => this.check(l), l.delay);
          l.retry.unref();
          l.delay = Math.min(l.delay * 2, this.init.maxRetryDelayMs);
        },
      )
      .finally(() => {
        l.checking = undefined;
        if (l.again) this.check(l);
      });
  }

  private async checkPending(l: LightLog): Promise<void> {
    await this.checks.run(l);
    await this.reloadHead(l);
  }

  private async reloadHead(l: LightLog): Promise<void> {
    const record = await this.components.monitor.verifiedCheckpoint(l.followed.logId);
    if (record === undefined || l.stopped) return;
    if (l.head !== undefined && l.head.size >= record.size) return;
    l.head = { size: record.size, root: record.root };
    l.seen = Math.max(l.seen, record.size);
    log('light log %s: verified to %d', l.followed.logId, record.size);
    this.dispatchEvent(
      new CustomEvent('verified', { detail: { logId: l.followed.logId, size: record.size } }),
    );
  }
}
