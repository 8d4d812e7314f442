/**
 * The node's view of every log's checkpoints, and the gossip validators of CHECKPOINT_TOPIC and
 * EVIDENCE_TOPIC (docs/PROTOCOL.md). Independent of libp2p: `validate` and `receiveEvidence` return
 * 'accept' | 'ignore' | 'reject', which the libp2p node maps to gossipsub's TopicValidatorResult.
 *
 * Per log (durable, see node/monitor/checkpoint-records.ts): the latest checkpoint, a history of the largest
 * `historySize` sizes seen, a `forked` flag and the fork's evidence. This module is the monitor's face:
 * what a message costs before it is judged (the queue, the budget, the signature), then its parts: the
 * decisions (node/monitor/checkpoint-judge.ts), consistency with held trees
 * (node/monitor/tree-consistency.ts), witness cosignatures (node/monitor/cosignatures.ts), the quorum gate
 * (node/monitor/quorum-gate.ts) and the listings (node/monitor/log-listing.ts).
 *
 * Bounds: messages by the protocol caps, history by `historySize`, logs and forked logs by
 * node/monitor/monitored-logs.ts (least recently seen evicted, held logs never). Gossip about logs this
 * node neither holds nor follows (anyone can make keys) is kept in memory only, with a shorter history
 * (`unfollowedHistorySize`, `maxMemoryBytes`), and what is accepted of it is rate-limited per sending
 * peer and overall (node/monitor/gossip-budget.ts). Gossip waits for the monitor in a bounded queue
 * (`maxPending`, node/monitor/decision-queue.ts): beyond it, messages are ignored. See docs/SECURITY.md,
 * "Keyless peers".
 */

import { TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import type { WitnessKey } from '../../protocol/cosignature.ts';
import { TrustixError } from '../../protocol/errors.ts';
import { type Evidence, verifyEvidence } from '../../protocol/evidence.ts';
import { type CheckpointMessage, namedLogId, parseCheckpointMessage } from '../../protocol/gossip-message.ts';
import { logIdOf } from '../../protocol/keys.ts';
import { asError } from '../errors.ts';
import type { Database } from '../store/database.ts';
import { CheckpointJudge } from './checkpoint-judge.ts';
import { CheckpointRecords, type HistoryRecord } from './checkpoint-records.ts';
import type { CheckpointMonitorEvents, CheckpointVerdict, EvidenceVerdict } from './checkpoint-verdict.ts';
import type { WitnessQuorum } from './cosignatures.ts';
import { DecisionQueue } from './decision-queue.ts';
import { GossipBudget, type RateLimit } from './gossip-budget.ts';
import { LogListing, type MonitoredLog, type SeenPage } from './log-listing.ts';
import { MonitoredLogs } from './monitored-logs.ts';
import { QuorumGate, type QuorumStatus } from './quorum-gate.ts';
import {
  type PendingConsistency,
  type TreeCheck,
  TreeConsistency,
  type VerifiedTree,
} from './tree-consistency.ts';

const log = logger('trustix:checkpoint-monitor');

export interface CheckpointMonitorComponents {
  readonly db: Database;
  /** The logs this node holds: checked against directly, and never evicted. */
  readonly logs: { get(logId: string): VerifiedTree | undefined };
  /**
   * Whether the user follows a log (held or not yet): its records are kept on disk and its gossip is not
   * rate-limited. Default: none besides the held logs.
   */
  readonly followed?: (logId: string) => boolean;
}

export interface CheckpointMonitorInit {
  /** Most logs tracked (default 100,000). */
  readonly maxLogs?: number;
  /** Checkpoint sizes kept per log (default 32). */
  readonly historySize?: number;
  /** Most forked logs (with evidence) kept besides held ones (default 10,000). */
  readonly maxEvidence?: number;
  /** Checkpoint sizes kept per log nobody here follows (in memory; default 4). */
  readonly unfollowedHistorySize?: number;
  /** Most bytes of records kept in memory for logs nobody here follows (default 16 MiB). */
  readonly maxMemoryBytes?: number;
  /**
   * Accepted gossip about logs nobody here follows, per sending peer (default 2/s, bursts of 20) and
   * overall (default 10/s, bursts of 100); beyond, ignored (node/monitor/gossip-budget.ts).
   */
  readonly peerBudget?: RateLimit;
  readonly budget?: RateLimit;
  /** Gossip messages waiting for the monitor; beyond, a message is ignored (default 256). */
  readonly maxPending?: number;
  /**
   * Witnesses whose cosignatures are verified and kept (default none): the node's own witness key and
   * every witness a followed log's quorum lists.
   */
  readonly witnesses?: readonly WitnessKey[];
  /** Witness quorums by log ID (default none): the quorum gate (node/monitor/quorum-gate.ts). */
  readonly quorums?: ReadonlyMap<string, WitnessQuorum>;
}

export class CheckpointMonitor extends TypedEventEmitter<CheckpointMonitorEvents> {
  private readonly components: CheckpointMonitorComponents;
  private readonly queue: DecisionQueue;
  private readonly records: CheckpointRecords;
  private readonly table: MonitoredLogs;
  private readonly budget: GossipBudget;
  private readonly gate: QuorumGate;
  private readonly judge: CheckpointJudge;
  private readonly consistency: TreeConsistency;
  private readonly listing: LogListing;

  constructor(components: CheckpointMonitorComponents, init: CheckpointMonitorInit = {}) {
    super();
    this.components = components;
    const historySize = init.historySize ?? 32;
    const unfollowedHistorySize = Math.min(historySize, init.unfollowedHistorySize ?? 4);
    if (unfollowedHistorySize < 2) throw new RangeError('historySize must be at least 2');
    this.queue = new DecisionQueue(init.maxPending ?? 256);
    this.records = new CheckpointRecords(components.db, (logId) => this.isKept(logId));
    this.table = new MonitoredLogs(this.records, (logId) => this.isHeld(logId), {
      maxLogs: init.maxLogs ?? 100_000,
      maxEvidence: init.maxEvidence ?? 10_000,
      maxMemoryBytes: init.maxMemoryBytes ?? 16 * 1024 * 1024,
    });
    this.budget = new GossipBudget(init.peerBudget, init.budget);
    this.gate = new QuorumGate(this.records, init.quorums ?? new Map(), this);
    this.judge = new CheckpointJudge({
      records: this.records,
      table: this.table,
      budget: this.budget,
      gate: this.gate,
      events: this,
      trees: components.logs,
      isKept: (logId) => this.isKept(logId),
      witnesses: init.witnesses ?? [],
      historySize,
      unfollowedHistorySize,
    });
    this.consistency = new TreeConsistency(this.records, this.table, (logId, evidence, source) =>
      this.judge.storeFork(logId, evidence, source),
    );
    this.listing = new LogListing(this.records, this.table, (logId) => this.isHeld(logId));
  }

  /** Loads the stored states. */
  async start(): Promise<void> {
    await this.queue.exclusive(() => this.table.load());
  }

  /** Number of logs tracked. */
  get size(): number {
    return this.table.size;
  }

  isForked(logId: string): boolean {
    return this.table.get(logId)?.forked ?? false;
  }

  /**
   * Moves what the monitor holds about `logId` from memory to disk, once the log is followed (call on
   * follow; the next write would do it too).
   */
  async keep(logId: string): Promise<void> {
    await this.queue.exclusive(() => this.records.write(logId, [], true));
  }

  /**
   * The CHECKPOINT_TOPIC validator. Never throws: our own failures give 'ignore' (not the sender's fault).
   * `from` is the sending peer; without it the message is the node's own (never queued out or budgeted).
   */
  async validate(bytes: Uint8Array, from?: string): Promise<CheckpointVerdict> {
    const named = from === undefined ? undefined : namedLogId(bytes);
    const isNew = named !== undefined && this.table.get(named) === undefined && !this.isKept(named);
    if (from !== undefined && this.queue.full) {
      // Refused, yet news of a new log costs its sender a token: flooders filling the queue get blamed.
      if (isNew && this.budget.refused(from) === 'peer')
        return { logId: named, decision: 'ignore', outcome: 'busy', blame: true };
      return { decision: 'ignore', outcome: 'busy' };
    }
    // A log new here spends the budget whatever else it is: when that is spent, refuse before the
    // signature check, which a flood of fresh-key checkpoints would otherwise pay for each message.
    if (isNew) {
      const spent = this.budget.check(from!);
      if (spent !== 'ok')
        return { logId: named, decision: 'ignore', outcome: 'over-budget', blame: spent === 'peer' };
    }
    let msg: CheckpointMessage;
    try {
      msg = parseCheckpointMessage(bytes); // verifies the signature: CPU only, outside the queue
    } catch (err) {
      if (err instanceof TrustixError) return { decision: 'reject', outcome: 'malformed', error: err };
      return failed(err);
    }
    return this.queue.gossipTask(from, () => this.judge.checkpoint(msg, from)).catch(failed);
  }

  /** The EVIDENCE_TOPIC validator: verified evidence marks its log forked for good. Never throws. */
  async receiveEvidence(bytes: Uint8Array, from?: string): Promise<EvidenceVerdict> {
    if (from !== undefined && this.queue.full) return { decision: 'ignore', outcome: 'busy' };
    let evidence: Evidence;
    try {
      evidence = verifyEvidence(bytes);
    } catch (err) {
      if (err instanceof TrustixError) return { decision: 'reject', outcome: 'invalid', error: err };
      return failed(err);
    }
    const logId = logIdOf(evidence.vkey);
    return this.queue.gossipTask(from, () => this.judge.evidence(logId, evidence, from)).catch(failed);
  }

  /**
   * Checks every history entry of `logId` up to the tree's size against the tree (default: the log this
   * node holds). Call after a sync: matches become checked, a disagreement becomes evidence.
   */
  async checkTree(logId: string, tree = this.components.logs.get(logId)): Promise<TreeCheck> {
    return this.queue.exclusive(() => this.consistency.check(logId, tree));
  }

  /** The log's checkpoints not yet known to be consistent, and the anchor to prove them against. */
  pendingConsistency(logId: string): Promise<PendingConsistency | undefined> {
    return this.consistency.pending(logId);
  }

  /**
   * The largest checkpoint of `logId` known to lie on its checked chain and, for a log with a witness
   * quorum, carrying it (the gate, as for `newest`): a light log's newest verified checkpoint
   * (node/network/light-logs.ts). Undefined when none is.
   */
  async verifiedCheckpoint(logId: string): Promise<HistoryRecord | undefined> {
    if (this.table.get(logId) === undefined) return undefined;
    return this.gate.verifiedCheckpoint(logId);
  }

  /**
   * The checkpoints of `logId` held (its bounded history, smallest first), checked or not: each note
   * verified with the log key on arrival, so any of them conflicting with another signed one is a fork.
   */
  async held(logId: string): Promise<readonly HistoryRecord[]> {
    return this.records.history(logId);
  }

  /** The largest checkpoint note seen for `logId`, whether or not it may be the log's newest. */
  async latest(logId: string): Promise<Uint8Array | undefined> {
    return (await this.records.history(logId)).at(-1)?.note;
  }

  /** The quorum gate, pull side (node/monitor/quorum-gate.ts): the note of the newest checkpoint of `logId`. */
  newest(logId: string): Promise<Uint8Array | undefined> {
    return this.gate.newest(logId);
  }

  /**
   * What a peer asking to catch up on `logId` is told (docs/PROTOCOL.md "Checkpoint catch-up"): the
   * checkpoint messages of its largest checkpoint seen and, when it differs, of its newest (which
   * carries the quorum); none for a log never seen. The notes were verified on arrival: no signature
   * is checked again here, the asker checks them all.
   */
  async catchupMessages(logId: string): Promise<Uint8Array[]> {
    const state = await this.records.state(logId);
    if (state === undefined) return [];
    const notes = [await this.latest(logId), await this.newest(logId)];
    const line = Buffer.from(`${state.vkey}\n`);
    const out: Uint8Array[] = [];
    for (const [i, note] of notes.entries())
      if (note !== undefined && (i === 0 || !Buffer.from(note).equals(Buffer.from(notes[0] ?? []))))
        out.push(new Uint8Array(Buffer.concat([line, note])));
    return out;
  }

  /** Whether `logId` has a witness quorum: its checkpoints must come through the gate. */
  hasQuorum(logId: string): boolean {
    return this.gate.has(logId);
  }

  /** The witness quorum of `logId` and where it stands; undefined for a log without one. */
  quorumStatus(logId: string): Promise<QuorumStatus | undefined> {
    return this.gate.status(logId);
  }

  /** Every tracked log, for listing. */
  logs(): Promise<MonitoredLog[]> {
    return this.listing.logs();
  }

  /** A page of the tracked logs not in `exclude` (node/monitor/log-listing.ts, LogListing.seen). */
  seen(options: { after?: string; limit: number; exclude: ReadonlySet<string> }): Promise<SeenPage> {
    return this.listing.seen(options);
  }

  /** Every stored evidence document, verified again (one that no longer verifies is corruption). */
  evidence(): Promise<Evidence[]> {
    return this.listing.evidence();
  }

  private isHeld(logId: string): boolean {
    return this.components.logs.get(logId) !== undefined;
  }

  /** Held or followed: kept on disk, never budgeted. */
  private isKept(logId: string): boolean {
    return this.isHeld(logId) || (this.components.followed?.(logId) ?? false);
  }
}

function failed(err: unknown): { decision: 'ignore'; outcome: 'error'; error: Error } {
  const error = asError(err);
  log.error('checkpoint monitor failed: %s', error.message);
  return { decision: 'ignore', outcome: 'error', error };
}
