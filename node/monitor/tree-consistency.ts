/**
 * Consistency of the checkpoints the monitor keeps with the trees this node holds: the follower's check
 * after a sync, what is left to check, and the fork evidence a disagreement makes.
 *
 * A history entry is `checked` when it is known to lie on one chain with the others: the first
 * checkpoint ever seen (trust on first use), or one checked against a tree we hold (LogStore.rootAt).
 * A larger checkpoint of a log whose tree we do not hold (up to that size) cannot be checked on arrival:
 * it is accepted as pending (node/monitor/checkpoint-judge.ts), the 'checkpoint' event says so, and
 * pendingConsistency() lists what is left to verify: the follower syncs the tree (verified against the
 * signed root) and calls checkTree, which turns any disagreement into evidence. No consistency proof from
 * a peer is taken instead: one that fails proves nothing (anyone can send a bad proof about an honest
 * log), and the sync checks the same thing with the tree itself.
 */
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import {
  buildEvidence,
  type Evidence,
  evidenceProofFromHashes,
  evidenceProofIds,
} from '../../protocol/evidence.ts';
import type { LogKey } from '../../protocol/keys.ts';
import { type Hash, type HashId, hashesEqual } from '../../protocol/merkle.ts';
import type { BatchOp } from '../store/database.ts';
import type { CheckpointRecords, HistoryRecord } from './checkpoint-records.ts';
import type { MonitoredLogs } from './monitored-logs.ts';

/** A tree the node holds and has verified against its signed checkpoint (LogStore is one). */
export interface VerifiedTree {
  readonly key: LogKey;
  checkpoint(): SignedCheckpoint | undefined;
  rootAt(size: number): Promise<Hash>;
  readHashes(ids: readonly HashId[]): Promise<Hash[]>;
}

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

/** Marks a log forked with its evidence, synced, and tells (CheckpointJudge.storeFork). */
export type StoreFork = (logId: string, evidence: Evidence, source: 'made') => Promise<void>;

export class TreeConsistency {
  private readonly records: CheckpointRecords;
  private readonly table: MonitoredLogs;
  private readonly storeFork: StoreFork;

  constructor(records: CheckpointRecords, table: MonitoredLogs, storeFork: StoreFork) {
    this.records = records;
    this.table = table;
    this.storeFork = storeFork;
  }

  /**
   * Checks every history entry of `logId` up to the tree's size against the tree. Run in the monitor's
   * decision queue (CheckpointMonitor.checkTree): matches become checked, a disagreement becomes evidence.
   */
  async check(logId: string, tree: VerifiedTree | undefined): Promise<TreeCheck> {
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
  }

  /** The log's checkpoints not yet known to be consistent, and the anchor to prove them against. */
  async pending(logId: string): Promise<PendingConsistency | undefined> {
    if (this.table.get(logId) === undefined) return undefined;
    const history = await this.records.history(logId);
    const pending = history.filter((h) => !h.checked);
    if (pending.length === 0) return undefined;
    return { anchor: history.findLast((h) => h.checked), pending };
  }
}

/** Evidence that the checkpoint `note` disagrees with the tree we hold (signed by `head`). */
export async function evidenceFromTree(
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
