/**
 * The node's view of every log's checkpoints, and the gossip validators of CHECKPOINT_TOPIC and
 * EVIDENCE_TOPIC (docs/PROTOCOL.md). Independent of libp2p: `validate` and `receiveEvidence` return
 * 'accept' | 'ignore' | 'reject', which the libp2p node maps to gossipsub's TopicValidatorResult.
 *
 * Per log (durable, see node/monitor/checkpoint-records.ts): the latest checkpoint, a history of the largest
 * `historySize` sizes seen, a `forked` flag and the fork's evidence. Decisions:
 *
 *   malformed message, bad signature                         reject
 *   same note, or a size at or below the latest that is
 *     consistent (or cannot be checked: not new)             ignore
 *   a larger size, consistent (or not checkable yet)         accept, stored
 *   inconsistent: same size and another root, or a size
 *     covered by a tree we hold whose prefix root differs    accept (the fork must spread) + evidence
 *
 * Consistency. A history entry is `checked` when it is known to lie on one chain with the others: the
 * first checkpoint ever seen (trust on first use), or one checked against a tree we hold (LogStore.rootAt).
 * A larger checkpoint of a log whose tree we do not hold (up to that size) cannot be checked on arrival:
 * it is accepted as pending, the 'checkpoint' event says so, and pendingConsistency() lists what is left
 * to verify: the follower syncs the tree (verified against the signed root) and calls checkTree, which
 * turns any disagreement into evidence. No consistency proof from a peer is taken instead: one that
 * fails proves nothing (anyone can send a bad proof about an honest log), and the sync checks the same
 * thing with the tree itself.
 *
 * Witness cosignatures (docs/PROTOCOL.md, "Witness cosignatures"; node/monitor/cosignatures.ts). A
 * checkpoint message may carry cosignature lines. Those by witnesses this node knows (`witnesses`) are
 * verified and kept with the checkpoint of a held or followed log, merged across messages (one per
 * witness, bounded); a known checkpoint that brings new ones is accepted so that they spread, one with
 * lines this node cannot verify or keep is passed on within the gossip budget, and one with a line by a
 * known witness that does not verify is ignored.
 *
 * The quorum gate. The 'newest' event and newest() are the single place where a followed log's
 * checkpoint becomes its newest: the follower moves only on them. For a log without a witness quorum
 * (`quorums`) every new checkpoint is its newest; for a log with one, only a checkpoint carrying K valid
 * cosignatures by its listed witnesses, once it does (a checkpoint lacking them waits in the bounded
 * history until cosignatures arrive by gossip).
 *
 * Bounds: messages by the protocol caps, history by `historySize`, logs and forked logs by
 * node/monitor/monitored-logs.ts (least recently seen evicted, held logs never). Gossip about logs this
 * node neither holds nor follows (anyone can make keys) is kept in memory only, with a shorter history
 * (`unfollowedHistorySize`, `maxMemoryBytes`), and what is accepted of it is rate-limited per sending
 * peer and overall (node/monitor/gossip-budget.ts). Gossip waits for the monitor in a bounded queue
 * (`maxPending`): beyond it, messages are ignored. See docs/SECURITY.md, "Keyless peers".
 */

import { TypedEventEmitter } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import type { WitnessKey } from '../../protocol/cosignature.ts';
import { TrustixError } from '../../protocol/errors.ts';
import {
  buildEvidence,
  type Evidence,
  evidenceProofFromHashes,
  evidenceProofIds,
  verifyEvidence,
} from '../../protocol/evidence.ts';
import { type CheckpointMessage, namedLogId, parseCheckpointMessage } from '../../protocol/gossip-message.ts';
import { type LogKey, logIdOf } from '../../protocol/keys.ts';
import { type Hash, type HashId, hashesEqual } from '../../protocol/merkle.ts';
import { parseVkey } from '../../protocol/vkey.ts';
import { asError, StoreCorruptError } from '../errors.ts';
import type { BatchOp, Database } from '../store/database.ts';
import { CheckpointRecords, type HistoryRecord } from './checkpoint-records.ts';
import type {
  CheckpointEvent,
  CheckpointMonitorEvents,
  CheckpointVerdict,
  Consistency,
  EvidenceVerdict,
  ForkEvent,
  NewestEvent,
} from './checkpoint-verdict.ts';
import {
  cosignersOf,
  mergeCosignatures,
  type ReceivedCosignatures,
  receivedCosignatures,
  type WitnessQuorum,
} from './cosignatures.ts';
import { type BudgetResult, GossipBudget, type RateLimit } from './gossip-budget.ts';
import { MonitoredLogs } from './monitored-logs.ts';

const log = logger('trustix:checkpoint-monitor');

/** A tree the node holds and has verified against its signed checkpoint (LogStore is one). */
export interface VerifiedTree {
  readonly key: LogKey;
  checkpoint(): SignedCheckpoint | undefined;
  rootAt(size: number): Promise<Hash>;
  readHashes(ids: readonly HashId[]): Promise<Hash[]>;
}

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
  /** Witness quorums by log ID (default none): the quorum gate (see above). */
  readonly quorums?: ReadonlyMap<string, WitnessQuorum>;
}

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

export interface MonitoredLog {
  readonly logId: string;
  readonly vkey: string;
  readonly size: number;
  readonly forked: boolean;
  readonly held: boolean;
}

/** A page of logs seen but not followed (see CheckpointMonitor.seen). */
export interface SeenPage {
  readonly logs: MonitoredLog[];
  /** Every log seen, less the excluded ones. */
  readonly total: number;
  /** The `after` of the next page; undefined at the end. */
  readonly next?: string;
}

/** Most logs in one page of CheckpointMonitor.seen. */
export const MAX_SEEN_PAGE = 1000;

/** What the follower must still verify: checkpoints not known to be on the chain of `anchor`. */
export interface PendingConsistency {
  /** The largest checked checkpoint, if any. */
  readonly anchor?: HistoryRecord;
  readonly pending: readonly HistoryRecord[];
}

export interface TreeCheck {
  /** History entries the tree confirmed. */
  readonly confirmed: number;
  readonly evidence?: Evidence;
}

export class CheckpointMonitor extends TypedEventEmitter<CheckpointMonitorEvents> {
  private readonly components: CheckpointMonitorComponents;
  private readonly historySize: number;
  private readonly unfollowedHistorySize: number;
  private readonly maxPending: number;
  private readonly records: CheckpointRecords;
  private readonly table: MonitoredLogs;
  private readonly budget: GossipBudget;
  private readonly witnesses: readonly WitnessKey[];
  private readonly quorums: ReadonlyMap<string, WitnessQuorum>;
  /** Per log with a quorum: the size of the newest checkpoint announced by 'newest'. */
  private readonly admitted = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;

  constructor(components: CheckpointMonitorComponents, init: CheckpointMonitorInit = {}) {
    super();
    this.components = components;
    this.historySize = init.historySize ?? 32;
    this.unfollowedHistorySize = Math.min(this.historySize, init.unfollowedHistorySize ?? 4);
    if (this.unfollowedHistorySize < 2) throw new RangeError('historySize must be at least 2');
    this.maxPending = init.maxPending ?? 256;
    this.records = new CheckpointRecords(components.db, (logId) => this.isKept(logId));
    this.table = new MonitoredLogs(this.records, (logId) => this.isHeld(logId), {
      maxLogs: init.maxLogs ?? 100_000,
      maxEvidence: init.maxEvidence ?? 10_000,
      maxMemoryBytes: init.maxMemoryBytes ?? 16 * 1024 * 1024,
    });
    this.budget = new GossipBudget(init.peerBudget, init.budget);
    this.witnesses = init.witnesses ?? [];
    this.quorums = init.quorums ?? new Map();
  }

  /** Loads the stored states. */
  async start(): Promise<void> {
    await this.exclusive(() => this.table.load());
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
    await this.exclusive(() => this.records.write(logId, [], true));
  }

  /**
   * The CHECKPOINT_TOPIC validator. Never throws: our own failures give 'ignore' (not the sender's fault).
   * `from` is the sending peer; without it the message is the node's own (never queued out or budgeted).
   */
  async validate(bytes: Uint8Array, from?: string): Promise<CheckpointVerdict> {
    const named = from === undefined ? undefined : namedLogId(bytes);
    const isNew = named !== undefined && this.table.get(named) === undefined && !this.isKept(named);
    if (from !== undefined && this.pending >= this.maxPending) {
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
    return this.gossipTask(from, () => this.judge(msg, from)).catch(failed);
  }

  /** The EVIDENCE_TOPIC validator: verified evidence marks its log forked for good. Never throws. */
  async receiveEvidence(bytes: Uint8Array, from?: string): Promise<EvidenceVerdict> {
    if (from !== undefined && this.pending >= this.maxPending) return { decision: 'ignore', outcome: 'busy' };
    let evidence: Evidence;
    try {
      evidence = verifyEvidence(bytes);
    } catch (err) {
      if (err instanceof TrustixError) return { decision: 'reject', outcome: 'invalid', error: err };
      return failed(err);
    }
    const logId = logIdOf(evidence.vkey);
    return this.gossipTask(from, async (): Promise<EvidenceVerdict> => {
      const known = this.table.get(logId);
      if (known?.forked) return { decision: 'ignore', outcome: 'known', logId };
      const spent = this.spend(logId, from);
      if (spent !== 'ok')
        return { decision: 'ignore', outcome: 'over-budget', logId, blame: spent === 'peer' };
      if (known === undefined && !(await this.table.makeRoom(true)))
        return { decision: 'ignore', outcome: 'capacity', logId };
      await this.storeFork(logId, evidence, 'received', from);
      return { decision: 'accept', outcome: 'forked', logId, evidence };
    }).catch(failed);
  }

  /**
   * Checks every history entry of `logId` up to the tree's size against the tree (default: the log this
   * node holds). Call after a sync: matches become checked, a disagreement becomes evidence.
   */
  async checkTree(logId: string, tree = this.components.logs.get(logId)): Promise<TreeCheck> {
    return this.exclusive(async () => {
      const head = tree?.checkpoint();
      const known = this.table.get(logId);
      if (tree === undefined || head === undefined || known === undefined) return { confirmed: 0 };
      const ops: BatchOp[] = [];
      let confirmed = 0;
      let evidence: Evidence | undefined;
      for (const h of await this.records.history(logId)) {
        if (h.size > head.size) break;
        if (!hashesEqual(await tree.rootAt(h.size), h.root)) {
          if (!known.forked) {
            evidence = await evidenceFromTree(tree.key.vkey, h.note, head, tree);
            await this.storeFork(logId, evidence, 'made');
          }
          break;
        }
        confirmed++;
        if (!h.checked) ops.push(this.records.putHistory(logId, { ...h, checked: true }));
      }
      if (ops.length > 0) await this.records.write(logId, ops, false);
      return { confirmed, evidence };
    });
  }

  /** The log's checkpoints not yet known to be consistent, and the anchor to prove them against. */
  async pendingConsistency(logId: string): Promise<PendingConsistency | undefined> {
    if (this.table.get(logId) === undefined) return undefined;
    const history = await this.records.history(logId);
    const pending = history.filter((h) => !h.checked);
    if (pending.length === 0) return undefined;
    return { anchor: history.findLast((h) => h.checked), pending };
  }

  /**
   * The largest checkpoint of `logId` known to lie on its checked chain and, for a log with a witness
   * quorum, carrying it (the gate, as for `newest`): a light log's newest verified checkpoint
   * (node/network/light-logs.ts). Undefined when none is.
   */
  async verifiedCheckpoint(logId: string): Promise<HistoryRecord | undefined> {
    if (this.table.get(logId) === undefined) return undefined;
    const history = await this.records.history(logId);
    const quorum = this.quorums.get(logId);
    if (quorum === undefined) return history.findLast((h) => h.checked);
    const state = await this.records.state(logId);
    if (state === undefined) return undefined;
    const verifier = parseVkey(state.vkey);
    const now = nowSeconds();
    return history.findLast((h) => h.checked && cosignersOf(h.note, verifier, quorum, now) >= quorum.quorum);
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
    return this.quorums.has(logId);
  }

  /** The witness quorum of `logId` and where it stands; undefined for a log without one. */
  async quorumStatus(logId: string): Promise<QuorumStatus | undefined> {
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

  /** Every tracked log, for listing. */
  async logs(): Promise<MonitoredLog[]> {
    const out: MonitoredLog[] = [];
    for await (const [logId, s] of this.records.states())
      out.push({ logId, vkey: s.vkey, size: s.size, forked: s.forked, held: this.isHeld(logId) });
    return out;
  }

  /**
   * A page of the tracked logs, ordered by log ID, those after `after`, at most `limit` (1 to
   * MAX_SEEN_PAGE), leaving out `exclude` (the followed and own logs, listed on their own): a flood of
   * fresh keys makes this list as long as `maxLogs`, too long for one answer.
   */
  async seen(options: { after?: string; limit: number; exclude: ReadonlySet<string> }): Promise<SeenPage> {
    const { after, limit, exclude } = options;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_SEEN_PAGE)
      throw new RangeError(`limit must be 1 to ${MAX_SEEN_PAGE}`);
    let total = 0;
    const ids: string[] = [];
    for (const id of this.table.ids()) {
      if (exclude.has(id)) continue;
      total++;
      if (after === undefined || id > after) ids.push(id);
    }
    ids.sort();
    const logs: MonitoredLog[] = [];
    for (const logId of ids.slice(0, limit)) {
      const s = await this.records.state(logId);
      if (s !== undefined)
        logs.push({ logId, vkey: s.vkey, size: s.size, forked: s.forked, held: this.isHeld(logId) });
    }
    return { logs, total, ...(ids.length > limit ? { next: ids[limit - 1]! } : {}) };
  }

  /** Every stored evidence document, verified again (one that no longer verifies is corruption). */
  async evidence(): Promise<Evidence[]> {
    const out: Evidence[] = [];
    for await (const [logId, bytes] of this.records.evidence()) {
      try {
        out.push(verifyEvidence(bytes));
      } catch (cause) {
        throw new StoreCorruptError(`stored evidence of log ${logId} does not verify`, { cause });
      }
    }
    return out;
  }

  private async judge(msg: CheckpointMessage, from: string | undefined): Promise<CheckpointVerdict> {
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
    const tree = this.components.logs.get(logId);
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
    this.dispatchEvent(new CustomEvent('checkpoint', { detail }));
    this.admit(logId, vkey, entry, from);
    return { ...base, decision: 'accept', outcome: 'new', consistency, cosignatures: kept.added };
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
        if (this.quorums.has(logId)) this.admit(logId, vkey, entry, from);
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

  /**
   * The quorum gate, push side: announces `entry` as the log's newest ('newest') when it may be: always
   * for a log without a witness quorum, else once it carries the quorum and is larger than the newest
   * announced before.
   */
  private admit(logId: string, vkey: string, entry: HistoryRecord, from: string | undefined): void {
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
    this.dispatchEvent(new CustomEvent('newest', { detail }));
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
  private async storeFork(logId: string, evidence: Evidence, source: ForkEvent['source'], from?: string) {
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
    this.dispatchEvent(new CustomEvent('fork', { detail: { logId, vkey, evidence, source, from } }));
  }

  private isHeld(logId: string): boolean {
    return this.components.logs.get(logId) !== undefined;
  }

  /** Held or followed: kept on disk, never budgeted. */
  private isKept(logId: string): boolean {
    return this.isHeld(logId) || (this.components.followed?.(logId) ?? false);
  }

  /** Spends the budget for gossip from `from` about `logId`, when it is budgeted at all. */
  private spend(logId: string, from: string | undefined): BudgetResult {
    if (from === undefined || this.isKept(logId)) return 'ok';
    return this.budget.spend(from);
  }

  /** A task for a gossip message: counted in the bounded queue when it comes from a peer. */
  private async gossipTask<T>(from: string | undefined, task: () => Promise<T>): Promise<T> {
    if (from === undefined) return this.exclusive(task);
    this.pending++;
    try {
      return await this.exclusive(task);
    } finally {
      this.pending--;
    }
  }

  /** Runs `task` after every task queued before it: one decision at a time reads and writes state. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** POSIX seconds now: cosignature timestamps are checked against it. */
function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function failed(err: unknown): { decision: 'ignore'; outcome: 'error'; error: Error } {
  const error = asError(err);
  log.error('checkpoint monitor failed: %s', error.message);
  return { decision: 'ignore', outcome: 'error', error };
}

/** Evidence that the checkpoint `note` disagrees with the tree we hold (signed by `head`). */
async function evidenceFromTree(
  vkey: string,
  note: Uint8Array,
  head: SignedCheckpoint,
  tree: VerifiedTree,
): Promise<Evidence> {
  const small = openCheckpoint(note, tree.key.verifier).size;
  const ids = evidenceProofIds(small, head.size);
  const proof = evidenceProofFromHashes(small, head.size, ids.length === 0 ? [] : await tree.readHashes(ids));
  return buildEvidence(vkey, note, head.note, proof);
}
