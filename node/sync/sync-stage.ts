/**
 * How a sync stores what it verified (node/sync/log-sync.ts): steps of whole entry bundles, each ONE synced
 * LevelDB batch with their level-0 tiles, the path index records of their new entries and the staging
 * record; then the commit, which adds the upper tiles and the checkpoint note and removes the record.
 *
 * The staging record (layout.ts syncStageKey) says how many leaves are staged beyond the checkpoint and
 * which signed checkpoint they were verified against, so a restarted sync continues after them. Staged
 * data sits at its final keys: every LogStore read is clipped to the checkpoint's size, and staged data
 * is written only once it is known to extend the local tree, so nothing served changes before the commit.
 */
import { openCheckpoint, type SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { TILE_WIDTH } from '../../protocol/constants.ts';
import { STORE_PATH_HASH_CHARS } from '../../protocol/store-path.ts';
import type { TileData } from '../../protocol/tiles.ts';
import { StoreCorruptError } from '../errors.ts';
import { type BatchOp, type Database, writeBatch } from '../store/database.ts';
import {
  decodeIndexList,
  decodeSyncStage,
  encodeIndexList,
  encodeSyncStage,
  logPrefix,
  MAX_PATH_ENTRIES,
  syncStageKey,
} from '../store/layout.ts';
import type { LogStore } from '../store/log-store.ts';

/** Indices a path index record holds at most: MAX_PATH_ENTRIES + 1 means "more" (node/store/layout.ts). */
const CAPPED = MAX_PATH_ENTRIES + 1;

/** A verified entry bundle with its level-0 tile (at its width in the target tree). */
export interface VerifiedBundle {
  readonly index: number;
  readonly tile: TileData;
  readonly bundle: Uint8Array;
  /** Position in the bundle of the first entry to index (those before it are in the local tree). */
  readonly firstNew: number;
  /** Offset in `bundle` of each entry's store path hash part (STORE_PATH_HASH_CHARS ASCII bytes). */
  readonly hashParts: Uint32Array;
  /** Bytes of the bundle from entry `firstNew` on (what storing it adds to the log's byte quota). */
  readonly newBytes: number;
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

  /**
   * Stores `bundles` (contiguous, whole, in order) and records them as staged for `target`; `extra`:
   * more puts for the same batch (the log's byte count).
   */
  async step(
    bundles: readonly VerifiedBundle[],
    target: SignedCheckpoint,
    extra: readonly BatchOp[] = [],
  ): Promise<void> {
    const ops = await this.bundleOps(bundles);
    ops.push(...extra);
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
    extra: readonly BatchOp[] = [],
  ): Promise<void> {
    const ops = await this.bundleOps(bundles);
    ops.push(...extra);
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
    // Hash part -> its new indices: a number for a path named once in the step (the usual case).
    const added = new Map<string, number | number[]>();
    let firstNew = Number.POSITIVE_INFINITY;
    for (const b of bundles) {
      ops.push(store.tileOp(b.tile), store.bundleOp(b.index, b.bundle));
      const text = Buffer.from(b.bundle.buffer, b.bundle.byteOffset, b.bundle.length);
      for (let j = b.firstNew; j < b.hashParts.length; j++) {
        const index = b.index * TILE_WIDTH + j;
        if (index < firstNew) firstNew = index;
        const at = b.hashParts[j]!;
        const hashPart = text.toString('latin1', at, at + STORE_PATH_HASH_CHARS);
        const had = added.get(hashPart);
        if (had === undefined) added.set(hashPart, index);
        else if (typeof had === 'number') added.set(hashPart, [had, index]);
        else if (had.length < CAPPED) had.push(index);
      }
    }
    if (added.size === 0) return ops;
    // Indices at or past this step's first new entry cannot come from an earlier step: drop any, so a
    // record never lists an index twice or out of order, whatever an abandoned sync left behind.
    const keys: Uint8Array[] = [];
    for (const hashPart of added.keys()) keys.push(store.pathIndexKey(hashPart));
    const records = await this.db.getMany(keys);
    const one = [0];
    let k = 0;
    for (const indices of added.values()) {
      const record = records[k];
      let fresh: number[] = one;
      if (typeof indices === 'number') one[0] = indices;
      else fresh = indices;
      // At most MAX_PATH_ENTRIES + 1 indices (node/store/layout.ts): a full record is left as it is.
      const held = record === undefined ? [] : decodeIndexList(record, CAPPED).filter((x) => x < firstNew);
      k++;
      if (held.length >= CAPPED) continue;
      const list = encodeIndexList(
        held.length === 0 && fresh.length <= CAPPED ? fresh : [...held, ...fresh].slice(0, CAPPED),
      );
      // Copied into Node's buffer pool: LevelDB's binding would otherwise move each small on-heap
      // array off the heap to read it, which costs more than the copy.
      ops.push({ type: 'put', key: keys[k - 1]!, value: Buffer.from(list) });
    }
    return ops;
  }
}
