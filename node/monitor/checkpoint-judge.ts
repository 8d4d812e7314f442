/**
 * The checkpoint monitor's decisions on verified gossip (docs/PROTOCOL.md): a checkpoint message whose
 * signature checked, or an evidence document that verified, judged against what the monitor holds. Runs
 * in the monitor's decision queue (node/monitor/decision-queue.ts), one message at a time. Decisions:
 *
 *   malformed message, bad signature (CheckpointMonitor)     reject
 *   same note, or a size at or below the latest that is
 *     consistent (or cannot be checked: not new)             ignore
 *   a larger size, consistent (or not checkable yet)         accept, stored
 *   inconsistent: same size and another root, or a size
 *     covered by a tree we hold whose prefix root differs    accept (the fork must spread) + evidence
 *
 * Consistency: node/monitor/tree-consistency.ts. Witness cosignatures (docs/PROTOCOL.md, "Witness
 * cosignatures"; node/monitor/cosignatures.ts): a checkpoint message may carry cosignature lines. Those by
 * witnesses this node knows (`witnesses`) are verified and kept with the checkpoint of a held or followed
 * log, merged across messages (one per witness, bounded); a known checkpoint that brings new ones is
 * accepted so that they spread, one with lines this node cannot verify or keep is passed on within the
 * gossip budget, and one with a line by a known witness that does not verify is ignored. Gossip about
 * logs nobody here follows spends the gossip budget (node/monitor/gossip-budget.ts).
 */
import type { TypedEventTarget } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import type { WitnessKey } from '../../protocol/cosignature.ts';
import { TrustixError } from '../../protocol/errors.ts';
import { buildEvidence, type Evidence } from '../../protocol/evidence.ts';
import type { CheckpointMessage } from '../../protocol/gossip-message.ts';
import { hashesEqual } from '../../protocol/merkle.ts';
import { parseVkey } from '../../protocol/vkey.ts';
import type { BatchOp } from '../store/database.ts';
import type { CheckpointRecords, HistoryRecord } from './checkpoint-records.ts';
import type {
  CheckpointEvent,
  CheckpointMonitorEvents,
  CheckpointVerdict,
  Consistency,
  EvidenceVerdict,
  ForkEvent,
} from './checkpoint-verdict.ts';
import {
  mergeCosignatures,
  nowSeconds,
  type ReceivedCosignatures,
  receivedCosignatures,
} from './cosignatures.ts';
import type { BudgetResult, GossipBudget } from './gossip-budget.ts';
import type { MonitoredLogs } from './monitored-logs.ts';
import type { QuorumGate } from './quorum-gate.ts';
import { evidenceFromTree, type VerifiedTree } from './tree-consistency.ts';

const log = logger('trustix:checkpoint-monitor');

/** What the judge works with: the checkpoint monitor's parts and settings (CheckpointMonitorInit). */
export interface CheckpointJudgeParts {
  readonly records: CheckpointRecords;
  readonly table: MonitoredLogs;
  readonly budget: GossipBudget;
  readonly gate: QuorumGate;
  /** Where 'checkpoint' and 'fork' are told: the checkpoint monitor. */
  readonly events: TypedEventTarget<CheckpointMonitorEvents>;
  /** The logs this node holds (CheckpointMonitorComponents.logs). */
  readonly trees: { get(logId: string): VerifiedTree | undefined };
  /** Held or followed: kept on disk, never budgeted. */
  readonly isKept: (logId: string) => boolean;
  readonly witnesses: readonly WitnessKey[];
  readonly historySize: number;
  readonly unfollowedHistorySize: number;
}

export class CheckpointJudge {
  private readonly records: CheckpointRecords;
  private readonly table: MonitoredLogs;
  private readonly budget: GossipBudget;
  private readonly gate: QuorumGate;
  private readonly events: TypedEventTarget<CheckpointMonitorEvents>;
  private readonly trees: { get(logId: string): VerifiedTree | undefined };
  private readonly isKept: (logId: string) => boolean;
  private readonly witnesses: readonly WitnessKey[];
  private readonly historySize: number;
  private readonly unfollowedHistorySize: number;

  constructor(parts: CheckpointJudgeParts) {
    this.records = parts.records;
    this.table = parts.table;
    this.budget = parts.budget;
    this.gate = parts.gate;
    this.events = parts.events;
    this.trees = parts.trees;
    this.isKept = parts.isKept;
    this.witnesses = parts.witnesses;
    this.historySize = parts.historySize;
    this.unfollowedHistorySize = parts.unfollowedHistorySize;
  }

  /** A checkpoint message whose signature verified, from `from` (undefined: the node's own). */
  async checkpoint(msg: CheckpointMessage, from: string | undefined): Promise<CheckpointVerdict> {
    const { logId, vkey } = msg.logKey;
    const cp = msg.checkpoint;
    const base = { logId, size: cp.size };
    let received: ReceivedCosignatures;
    try {
      received = receivedCosignatures(cp, this.witnesses, nowSeconds());
    } catch (err) {
      if (err instanceof TrustixError)
        return { ...base, decision: 'ignore', outcome: 'bad-cosignature', error: err };
      throw err;
    }
    const known = this.table.get(logId);
    if (known !== undefined) this.table.touch(logId, known);
    const bare = cp.otherSignatures.length === 0;
    if (bare && known !== undefined && known.size === cp.size && hashesEqual(known.root, cp.root))
      return { ...base, decision: 'ignore', outcome: 'duplicate' };

    const history = known === undefined ? [] : await this.records.history(logId);
    const same = history.find((h) => h.size === cp.size);
    if (same !== undefined) {
      if (hashesEqual(same.root, cp.root)) return this.cosigned(base, vkey, same, received, from);
      return this.fork(base, async () => buildEvidence(vkey, same.note, cp.note, []), from);
    }
    const tree = this.trees.get(logId);
    const head = tree?.checkpoint();
    const covered = tree !== undefined && head !== undefined && cp.size <= head.size;
    if (covered && !hashesEqual(await tree.rootAt(cp.size), cp.root))
      return this.fork(base, () => evidenceFromTree(vkey, cp.note, head, tree), from);
    if (known !== undefined && cp.size < known.size) return { ...base, decision: 'ignore', outcome: 'old' };
    const spent = this.spend(logId, from);
    if (spent !== 'ok')
      return { ...base, decision: 'ignore', outcome: 'over-budget', blame: spent === 'peer' };
    if (known === undefined && !(await this.table.makeRoom(false)))
      return { ...base, decision: 'ignore', outcome: 'capacity' };

    const consistency: Consistency = covered ? 'verified' : known || head ? 'pending' : 'first';
    // Kept with the verified cosignatures of a held or followed log only; never lines by unknown witnesses.
    const kept = mergeCosignatures(cp, [], this.isKept(logId) ? received.valid : []);
    const note = kept.note;
    const entry = { size: cp.size, root: cp.root, checked: consistency !== 'pending', note };
    const state = known ?? { size: 0, root: cp.root, forked: false, seen: 0 };
    state.size = cp.size;
    state.root = cp.root;
    const limit = this.isKept(logId) ? this.historySize : this.unfollowedHistorySize;
    await this.records.write(
      logId,
      [
        this.records.putHistory(logId, entry),
        ...this.records.trimHistory(logId, [...history, entry], limit),
        this.records.putState(logId, { vkey, ...this.table.touch(logId, state) }),
      ],
      false,
    );
    if (known !== undefined) await this.table.trimMemory();
    log('log %s: checkpoint %d (%s)', logId, cp.size, consistency);
    const detail: CheckpointEvent = { logId, vkey, checkpoint: cp, consistency, from };
    this.events.dispatchEvent(new CustomEvent('checkpoint', { detail }));
    this.gate.admit(logId, vkey, entry, from);
    return { ...base, decision: 'accept', outcome: 'new', consistency, cosignatures: kept.added };
  }

  /** Evidence that verified, of `logId`, from `from`: it marks its log forked for good. */
  async evidence(logId: string, evidence: Evidence, from: string | undefined): Promise<EvidenceVerdict> {
    const known = this.table.get(logId);
    if (known?.forked) return { decision: 'ignore', outcome: 'known', logId };
    const spent = this.spend(logId, from);
    if (spent !== 'ok') return { decision: 'ignore', outcome: 'over-budget', logId, blame: spent === 'peer' };
    if (known === undefined && !(await this.table.makeRoom(true)))
      return { decision: 'ignore', outcome: 'capacity', logId };
    await this.storeFork(logId, evidence, 'received', from);
    return { decision: 'accept', outcome: 'forked', logId, evidence };
  }

  /**
   * A checkpoint we have, again: its cosignatures new here are kept (accept, so that they spread), lines
   * this node cannot verify or keep are passed on within the gossip budget, anything else is a duplicate.
   */
  private async cosigned(
    base: { logId: string; size: number },
    vkey: string,
    same: HistoryRecord,
    received: ReceivedCosignatures,
    from: string | undefined,
  ): Promise<CheckpointVerdict> {
    const { logId } = base;
    const kept = this.isKept(logId);
    if (kept && received.valid.length > 0) {
      const have = openCheckpoint(same.note, parseVkey(vkey));
      const keptValid = receivedCosignatures(have, this.witnesses, nowSeconds()).valid;
      const { note, added } = mergeCosignatures(have, keptValid, received.valid);
      if (added > 0) {
        const entry = { ...same, note };
        await this.records.write(logId, [this.records.putHistory(logId, entry)], false);
        log('log %s: %d new cosignature(s) on checkpoint %d', logId, added, same.size);
        if (this.gate.has(logId)) this.gate.admit(logId, vkey, entry, from);
        return { ...base, decision: 'accept', outcome: 'cosigned', cosignatures: added };
      }
    }
    const relayable = received.unknown + (kept ? 0 : received.valid.length);
    if (relayable === 0 || from === undefined) return { ...base, decision: 'ignore', outcome: 'duplicate' };
    const spent = this.budget.spend(from);
    if (spent !== 'ok')
      return { ...base, decision: 'ignore', outcome: 'over-budget', blame: spent === 'peer' };
    return { ...base, decision: 'accept', outcome: 'relayed' };
  }

  /** A proven conflict: accepted so that it spreads; evidence made and stored once per log. */
  private async fork(
    base: { logId: string; size: number },
    make: () => Promise<Evidence>,
    from: string | undefined,
  ): Promise<CheckpointVerdict> {
    const verdict = { ...base, decision: 'accept', outcome: 'fork' } as const;
    const known = this.table.get(base.logId);
    // Anyone can fork their own fresh key at will: forks of logs nobody here follows spend the budget.
    const spent = this.spend(base.logId, from);
    if (spent !== 'ok')
      return { ...base, decision: 'ignore', outcome: 'over-budget', blame: spent === 'peer' };
    if (known?.forked) return verdict;
    const evidence = await make();
    if (known !== undefined || (await this.table.makeRoom(true)))
      await this.storeFork(base.logId, evidence, 'made', from);
    return { ...verdict, evidence };
  }

  /** Marks the log forked with its evidence, synced; a log not yet tracked starts from the larger checkpoint. */
  async storeFork(logId: string, evidence: Evidence, source: ForkEvent['source'], from?: string) {
    await this.table.makeRoomForFork(logId);
    const { vkey, b } = evidence;
    const ops: BatchOp[] = [this.records.putEvidence(logId, evidence.bytes)];
    let state = this.table.get(logId);
    if (state === undefined) {
      state = { size: b.size, root: b.root, forked: true, seen: 0 };
      ops.push(this.records.putHistory(logId, { size: b.size, root: b.root, checked: true, note: b.note }));
    }
    state.forked = true;
    ops.push(this.records.putState(logId, { vkey, ...this.table.touch(logId, state) }));
    await this.records.write(logId, ops, true);
    this.table.countFork();
    log('log %s is forked (evidence %s)', logId, source);
    this.events.dispatchEvent(new CustomEvent('fork', { detail: { logId, vkey, evidence, source, from } }));
  }

  /** Spends the budget for gossip from `from` about `logId`, when it is budgeted at all. */
  private spend(logId: string, from: string | undefined): BudgetResult {
    if (from === undefined || this.isKept(logId)) return 'ok';
    return this.budget.spend(from);
  }
}
