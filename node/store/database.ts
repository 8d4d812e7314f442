/**
 * Opens the node's one LevelDB (per data directory). Only one process may hold it.
 */
import { logger } from '@libp2p/logger';
import { Level } from 'level';
import { DataDirError, StoreCorruptError, StoreLockedError } from '../errors.ts';
import { FORMAT_VERSION, META_VERSION_KEY } from './layout.ts';

const log = logger('trustix:database');

export type Database = Level<Uint8Array, Uint8Array>;

/** One operation of an atomic batch. */
export type BatchOp =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: Uint8Array };

/** LevelDB's memory: what it holds for writes and reads, not counting the OS's file cache. */
export interface DatabaseInit {
  /**
   * Bytes of writes gathered in memory (and held twice while a full buffer is written out) before they
   * go to a table file. Default 16 MiB.
   */
  readonly writeBufferSize?: number;
  /** Bytes of decompressed blocks kept for reads. Default 32 MiB. */
  readonly cacheSize?: number;
  /**
   * Table files kept open. LevelDB maps each open table file into memory, so its pages, once read,
   * count in the process's resident set (file pages the kernel can take back, but resident all the
   * same); the number open bounds that. Default 1,000 (LevelDB's).
   */
  readonly maxOpenFiles?: number;
  /**
   * Bytes of a table file LevelDB writes before it starts the next. Fewer, larger tables: the same
   * `maxOpenFiles` covers more of the store. Default 2 MiB (LevelDB's).
   */
  readonly maxFileSize?: number;
}

/**
 * The defaults: larger than LevelDB's own (4 MiB / 8 MiB) for the sequencer, which writes in big batches
 * and reads tiles and path records at random; fewer, larger flushes mean less compaction work.
 */
export const DATABASE_DEFAULTS: Required<DatabaseInit> = {
  writeBufferSize: 16 * 1024 * 1024,
  cacheSize: 32 * 1024 * 1024,
  maxOpenFiles: 1000,
  maxFileSize: 2 * 1024 * 1024,
};

/** Opens (creating if needed) the LevelDB in `dir`; a store held by another process gives StoreLockedError. */
export async function openDatabase(dir: string, init: DatabaseInit = {}): Promise<Database> {
  const db: Database = new Level<Uint8Array, Uint8Array>(dir, {
    keyEncoding: 'view',
    valueEncoding: 'view',
    ...DATABASE_DEFAULTS,
    ...init,
  });
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') throw new StoreLockedError(dir, { cause: err });
    // LevelDB says only "Database failed to open": name the store and the cause underneath.
    const why = (cause as { message?: unknown } | undefined)?.message;
    throw new DataDirError(dir, `cannot open the store${typeof why === 'string' ? `: ${why}` : ''}`, {
      cause: err,
    });
  }
  const version = await db.get(META_VERSION_KEY);
  if (version === undefined) {
    await db.put(META_VERSION_KEY, new TextEncoder().encode(FORMAT_VERSION), { sync: true });
    log('created store format %s in %s', FORMAT_VERSION, dir);
  } else if (new TextDecoder().decode(version) !== FORMAT_VERSION) {
    await db.close();
    throw new StoreCorruptError(
      `store in ${dir} has format ${new TextDecoder().decode(version)}, expected ${FORMAT_VERSION}`,
    );
  }
  return db;
}

/**
 * Writes `ops` as one atomic batch, synced to disk before it resolves. A chained batch: abstract-level's
 * array form clones and re-validates every operation, about ten times slower for large batches.
 */
export async function writeBatch(db: Database, ops: readonly BatchOp[]): Promise<void> {
  const batch = db.batch();
  for (const op of ops) {
    if (op.type === 'put') batch.put(op.key, op.value);
    else batch.del(op.key);
  }
  await batch.write({ sync: true });
}
