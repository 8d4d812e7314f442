/**
 * How a sync stores what it verified (node/log-sync.ts): steps of whole entry bundles, each ONE synced
 * LevelDB batch with their level-0 tiles, the path index records of their new entries and the staging
 * record; then the commit, which adds the upper tiles and the checkpoint note and removes the record.
 *
 * The staging record (layout.ts syncStageKey) says how many leaves are staged beyond the checkpoint and
 * which signed checkpoint they were verified against, so a restarted sync continues after them. Staged
 * data sits at its final keys: every LogStore read is clipped to the checkpoint's size, and staged data
 * is written only once it is known to extend the local tree, so nothing served changes before the commit.
 */
import { openCheckpoint, type SignedCheckpoint } from '../protocol/checkpoint.ts';
import { TILE_WIDTH } from '../protocol/constants.ts';
import type { TileData } from '../protocol/tiles.ts';
import { type BatchOp, type Database, writeBatch } from './database.ts';
import { StoreCorruptError } from './errors.ts';
import {
  decodeIndexList,
  decodeSyncStage,
  encodeIndexList,
  encodeSyncStage,
  logPrefix,
  syncStageKey,
} from './layout.ts';
import type { LogStore } from './log-store.ts';

/** A verified entry bundle with its level-0 tile (at its width in the target tree). */
export interface VerifiedBundle {
  readonly index: number;
  readonly tile: TileData;
  readonly bundle: Uint8Array;
  /** Store path hash parts of the entries to index (those beyond the local tree), with their leaf index. */
  readonly paths: readonly (readonly [number, string])[];
}

/** What an interrupted sync left: leaves staged, and the checkpoint they were verified against. */
export interface StagedSync {
  readonly staged: number;
  readonly checkpoint: SignedCheckpoint;
}

export class SyncStage {
  private readonly db: Database;
  private readonly store: LogStore;
  private readonly key: Uint8Array;

  constructor(db: Database, store: LogStore) {
    this.db = db;
    this.store = store;
    this.key = syncStageKey(logPrefix(store.logId));
  }

  /** The staging record, verified with the log key; undefined when no sync was interrupted. */
  async load(): Promise<StagedSync | undefined> {
    const value = await this.db.get(this.key);
    if (value === undefined) return undefined;
    try {
      const { staged, note } = decodeSyncStage(value);
      return { staged, checkpoint: openCheckpoint(note, this.store.key.verifier) };
    } catch (cause) {
      throw new StoreCorruptError(`sync staging record of log ${this.store.logId} is damaged`, { cause });
    }
  }

  /** Forgets a staging record that a larger local tree made moot. */
  async discard(): Promise<void> {
    await writeBatch(this.db, [{ type: 'del', key: this.key }]);
  }

  /** Stores `bundles` (contiguous, whole, in order) and records them as staged for `target`. */
  async step(bundles: readonly VerifiedBundle[], target: SignedCheckpoint): Promise<void> {
    const ops = await this.bundleOps(bundles);
    const staged = (bundles[bundles.length - 1]!.index + 1) * TILE_WIDTH;
    ops.push({ type: 'put', key: this.key, value: encodeSyncStage(staged, target.note) });
    await writeBatch(this.db, ops);
  }

  /**
   * Stores the last `bundles`, the `upper` tiles (levels >= 1) and the checkpoint, removes the staging
   * record, and only then adopts the checkpoint.
   */
  async commit(
    bundles: readonly VerifiedBundle[],
    upper: readonly TileData[],
    target: SignedCheckpoint,
  ): Promise<void> {
    const ops = await this.bundleOps(bundles);
    for (const t of upper) ops.push(this.store.tileOp(t));
    ops.push(this.store.checkpointOp(target.note));
    ops.push({ type: 'del', key: this.key });
    await writeBatch(this.db, ops);
    this.store.advance(target);
  }

  /** Puts of the bundles, their tiles, and the path index records gaining their new entries. */
  private async bundleOps(bundles: readonly VerifiedBundle[]): Promise<BatchOp[]> {
    const { store } = this;
    const ops: BatchOp[] = [];
    const added = new Map<string, number[]>();
    let firstNew = Number.POSITIVE_INFINITY;
    for (const b of bundles) {
      ops.push(store.tileOp(b.tile), store.bundleOp(b.index, b.bundle));
      for (const [index, hashPart] of b.paths) {
        firstNew = Math.min(firstNew, index);
        const list = added.get(hashPart);
        if (list === undefined) added.set(hashPart, [index]);
        else list.push(index);
      }
    }
    if (added.size === 0) return ops;
    // Indices at or past this step's first new entry cannot come from an earlier step: drop any, so a
    // record never lists an index twice or out of order, whatever an abandoned sync left behind.
    const hashParts = [...added.keys()];
    const keys = hashParts.map((h) => store.pathIndexKey(h));
    const records = await this.db.getMany(keys);
    hashParts.forEach((h, k) => {
      const record = records[k];
      const old = record === undefined ? [] : decodeIndexList(record).filter((x) => x < firstNew);
      ops.push({ type: 'put', key: keys[k]!, value: encodeIndexList([...old, ...added.get(h)!]) });
    });
    return ops;
  }
}
