/**
 * What a sync of a followed log (node/sync/log-sync.ts) reports: its progress while it runs
 * (SyncProgress), its result (SyncResult) and what it held at its peak (SyncMemory). Apart from the sync
 * because those who show them (the follower's status, node/sync/follow-status.ts; the demo) need none of
 * its workings.
 */
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import type { PipelineMemory } from './bundle-pipeline.ts';

/** Counts in entries beyond the local copy (and what an interrupted sync staged); `bytes` as received. */
export interface SyncProgress {
  readonly logId: string;
  readonly fromSize: number;
  readonly targetSize: number;
  /** Leaves already staged by an earlier, interrupted sync (not fetched again). */
  readonly resumedFrom: number;
  readonly verified: number;
  readonly stored: number;
  readonly total: number;
  readonly bytes: number;
  /** Bytes of verified bundles waiting for their step (at most about windowBytes). */
  readonly heldBytes: number;
}

export interface SyncResult {
  readonly logId: string;
  /** The local checkpoint after the sync. */
  readonly checkpoint: SignedCheckpoint | undefined;
  readonly fromSize: number;
  readonly toSize: number;
  readonly resumedFrom: number;
  readonly bytes: number;
  /** Sources dropped during the sync. */
  readonly failedSources: readonly string[];
  /**
   * The most the sync held at once (0 when it fetched nothing): verified bundles awaiting their step
   * (at most `windowBundles`, with the bytes they keep alive), and the verified upper tiles and edge.
   */
  readonly memory: SyncMemory;
}

/** What a sync held at its peak (docs/ARCHITECTURE.md, "Memory"). */
export interface SyncMemory extends PipelineMemory {
  /** Bytes of the verified tiles of levels >= 1 and of the edge: about n / 8 for n new leaves. */
  readonly treeBytes: number;
}

/** SyncResult.memory of a sync that fetched nothing. */
export const NO_MEMORY: SyncMemory = { peakBundles: 0, peakBytes: 0, treeBytes: 0 };
