/**
 * Who is to blame when a source's tiles fail against our verified checkpoint of a log (docs/SECURITY.md,
 * "A forking builder"). Bytes that do not parse, oversized bodies and withheld tiles are the source's
 * fault: it is banned as a source of that log. Well-formed tiles that do not verify ('invalid') may be
 * honest: when the log's builder signed two histories, a peer holding the other branch serves tiles that
 * fail against our root. So before banning for that, the peer is asked for its own signed checkpoint of
 * the log (once, within `checkpointTimeoutMs`), which is handed to the checkpoint monitor like gossip from
 * that peer: when it verifies with the log key and conflicts with what we hold (same size and another
 * root, or a root our verified tree disagrees with), the monitor makes fork evidence (the log becomes
 * forked, the evidence is gossiped) and the peer is not banned: it proved the builder at fault. With no
 * such checkpoint (none, an invalid one, one consistent with ours, or one we cannot check yet, which the
 * monitor keeps to check after the next sync) the peer is banned as before.
 *
 * Bounded: at most `maxChecks` checks in flight (beyond, a failure is banned without one), one per
 * (peer, log) at a time.
 */
import { logger } from '@libp2p/logger';
import { formatCheckpointMessage } from '../../protocol/gossip-message.ts';
import type { LogKey } from '../../protocol/keys.ts';
import type { CheckpointVerdict } from '../monitor/checkpoint-verdict.ts';
import type { SourceFailedEvent, TileSource } from '../sync/tile-source.ts';

const log = logger('trustix:source-blame');

/** Failures that are the source's fault whatever the log's builder did. */
const FAULTS: ReadonlySet<string> = new Set(['malformed', 'oversized', 'withheld']);

export interface SourceBlameComponents {
  /** The source named `id` (a PeerId string), to ask for its checkpoint; undefined when not a peer. */
  sourceOf(id: string): TileSource | undefined;
  /** The key of a followed log (to name it to the monitor), or undefined. */
  keyOf(logId: string): LogKey | undefined;
  /** The checkpoint monitor's gossip validator (node/monitor/checkpoint-monitor.ts). */
  readonly monitor: { validate(bytes: Uint8Array, from?: string): Promise<CheckpointVerdict> };
  /** Bans `id` as a source of `logId` (node/network/peer-sources.ts). */
  ban(id: string, logId: string, reason: string): void;
}

export interface SourceBlameInit {
  /** Time for the source to give its checkpoint, in ms. Default 10,000. */
  readonly checkpointTimeoutMs?: number;
  /** Checks in flight at once; beyond, an invalid source is banned unchecked. Default 16. */
  readonly maxChecks?: number;
}

/** What `judge` made of a failed source. */
export type Blame = 'banned' | 'fork' | 'not-blamed';

export class SourceBlame {
  private readonly components: SourceBlameComponents;
  private readonly checkpointTimeoutMs: number;
  private readonly maxChecks: number;
  /** `${peer} ${logId}` of the checks in flight. */
  private readonly checking = new Set<string>();

  constructor(components: SourceBlameComponents, init: SourceBlameInit = {}) {
    this.components = components;
    this.checkpointTimeoutMs = init.checkpointTimeoutMs ?? 10_000;
    this.maxChecks = init.maxChecks ?? 16;
  }

  /** Judges a source a sync (or a lookup) dropped; bans it unless it proved the log forked. Never throws. */
  async judge(failure: SourceFailedEvent): Promise<Blame> {
    const { sourceId, logId, reason } = failure;
    if (FAULTS.has(reason)) return this.ban(failure);
    if (reason !== 'invalid') return 'not-blamed';
    const key = this.components.keyOf(logId);
    const source = this.components.sourceOf(sourceId);
    const check = `${sourceId} ${logId}`;
    if (this.checking.has(check)) return 'not-blamed'; // the check in flight decides
    if (key === undefined || source === undefined || this.checking.size >= this.maxChecks)
      return this.ban(failure);
    this.checking.add(check);
    try {
      if (await this.provesFork(key, source)) {
        log('source %s serves the other branch of the forked log %s: evidence, no ban', sourceId, logId);
        return 'fork';
      }
    } catch (err) {
      log('checking source %s for log %s: %s', sourceId, logId, err);
    } finally {
      this.checking.delete(check);
    }
    return this.ban(failure);
  }

  /** Whether the source's own signed checkpoint conflicts with what we hold (the monitor made evidence). */
  private async provesFork(key: LogKey, source: TileSource): Promise<boolean> {
    const note = await source.checkpoint(key.logId, {
      signal: AbortSignal.timeout(this.checkpointTimeoutMs),
    });
    if (note === undefined) return false;
    // formatCheckpointMessage verifies the note with the log key (throws when it does not).
    const verdict = await this.components.monitor.validate(
      formatCheckpointMessage(key.vkey, note),
      source.id,
    );
    // 'fork': the conflict is proven now, or the log was forked already and this is its other branch.
    return verdict.outcome === 'fork';
  }

  private ban(failure: SourceFailedEvent): Blame {
    const { sourceId, logId, reason } = failure;
    this.components.ban(sourceId, logId, `${reason} data for ${logId}`);
    return 'banned';
  }
}
