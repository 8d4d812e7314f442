/**
 * The quorum gate (docs/PROTOCOL.md, "Witness cosignatures"). The 'newest' event and newest() are the
 * single place where a followed log's checkpoint becomes its newest: the follower moves only on them.
 * For a log without a witness quorum (`quorums`) every new checkpoint is its newest; for a log with one,
 * only a checkpoint carrying K valid cosignatures by its listed witnesses, once it does (a checkpoint
 * lacking them waits in the bounded history until cosignatures arrive by gossip).
 */
import type { TypedEventTarget } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import { parseVkey } from '../../protocol/vkey.ts';
import type { CheckpointRecords, HistoryRecord } from './checkpoint-records.ts';
import type { CheckpointMonitorEvents, NewestEvent } from './checkpoint-verdict.ts';
import { cosignersOf, nowSeconds, type WitnessQuorum } from './cosignatures.ts';

const log = logger('trustix:checkpoint-monitor');

/** A log's witness quorum and where it stands (CheckpointMonitor.quorumStatus). */
export interface QuorumStatus {
  readonly quorum: number;
  readonly witnesses: number;
  /** The largest checkpoint carrying the quorum (the log's newest), if any. */
  readonly newestSize?: number;
  /** The largest checkpoint seen, when it still waits for cosignatures, and how many it has. */
  readonly waitingSize?: number;
  readonly waitingCosigners?: number;
}

export class QuorumGate {
  private readonly records: CheckpointRecords;
  private readonly quorums: ReadonlyMap<string, WitnessQuorum>;
  /** Where 'newest' is told: the checkpoint monitor. */
  private readonly events: TypedEventTarget<CheckpointMonitorEvents>;
  /** Per log with a quorum: the size of the newest checkpoint announced by 'newest'. */
  private readonly admitted = new Map<string, number>();

  constructor(
    records: CheckpointRecords,
    quorums: ReadonlyMap<string, WitnessQuorum>,
    events: TypedEventTarget<CheckpointMonitorEvents>,
  ) {
    this.records = records;
    this.quorums = quorums;
    this.events = events;
  }

  /** Whether `logId` has a witness quorum: its checkpoints must come through the gate. */
  has(logId: string): boolean {
    return this.quorums.has(logId);
  }

  /**
   * The quorum gate, push side: announces `entry` as the log's newest ('newest') when it may be: always
   * for a log without a witness quorum, else once it carries the quorum and is larger than the newest
   * announced before.
   */
  admit(logId: string, vkey: string, entry: HistoryRecord, from: string | undefined): void {
    const verifier = parseVkey(vkey);
    const quorum = this.quorums.get(logId);
    let cosigners = 0;
    if (quorum !== undefined) {
      if (entry.size <= (this.admitted.get(logId) ?? -1)) return;
      cosigners = cosignersOf(entry.note, verifier, quorum, nowSeconds());
      if (cosigners < quorum.quorum) {
        log(
          'log %s: checkpoint %d waits for its witness quorum (%d of %d)',
          logId,
          entry.size,
          cosigners,
          quorum.quorum,
        );
        return;
      }
      this.admitted.set(logId, entry.size);
    }
    const checkpoint = openCheckpoint(entry.note, verifier);
    const detail: NewestEvent = { logId, vkey, checkpoint, cosigners, ...(from !== undefined && { from }) };
    this.events.dispatchEvent(new CustomEvent('newest', { detail }));
  }

  /**
   * The quorum gate, pull side: the kept note of the largest checkpoint of `logId` that may be its
   * newest (e.g. to start syncing a log followed later, or after a restart): the largest seen for a log
   * without a witness quorum, else the largest carrying the quorum. Undefined when there is none.
   */
  async newest(logId: string): Promise<Uint8Array | undefined> {
    const history = await this.records.history(logId);
    const quorum = this.quorums.get(logId);
    if (quorum === undefined) return history.at(-1)?.note;
    const state = await this.records.state(logId);
    if (state === undefined) return undefined;
    const verifier = parseVkey(state.vkey);
    return history.findLast((h) => cosignersOf(h.note, verifier, quorum, nowSeconds()) >= quorum.quorum)
      ?.note;
  }

  /**
   * The largest checkpoint of a tracked `logId` known to lie on its checked chain and, for a log with a
   * witness quorum, carrying it (CheckpointMonitor.verifiedCheckpoint). Undefined when none is.
   */
  async verifiedCheckpoint(logId: string): Promise<HistoryRecord | undefined> {
    const history = await this.records.history(logId);
    const quorum = this.quorums.get(logId);
    if (quorum === undefined) return history.findLast((h) => h.checked);
    const state = await this.records.state(logId);
    if (state === undefined) return undefined;
    const verifier = parseVkey(state.vkey);
    const now = nowSeconds();
    return history.findLast((h) => h.checked && cosignersOf(h.note, verifier, quorum, now) >= quorum.quorum);
  }

  /** The witness quorum of `logId` and where it stands; undefined for a log without one. */
  async status(logId: string): Promise<QuorumStatus | undefined> {
    const quorum = this.quorums.get(logId);
    if (quorum === undefined) return undefined;
    const out = { quorum: quorum.quorum, witnesses: quorum.witnesses.length };
    const state = await this.records.state(logId);
    if (state === undefined) return out;
    const verifier = parseVkey(state.vkey);
    const history = await this.records.history(logId);
    const counts = history.map((h) => cosignersOf(h.note, verifier, quorum, nowSeconds()));
    const at = counts.findLastIndex((n) => n >= quorum.quorum);
    const last = history.at(-1);
    return {
      ...out,
      ...(at >= 0 && { newestSize: history[at]!.size }),
      ...(last !== undefined &&
        at !== history.length - 1 && { waitingSize: last.size, waitingCosigners: counts.at(-1)! }),
    };
  }
}
