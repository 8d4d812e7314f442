/**
 * A real log on a real LevelDB in a temp dir: database, queue, store and sequencer, for tests; and an
 * in-memory log (memoryLog) for serving exactly the entries a test chooses.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sequencer } from '../../node/own-log/sequencer.ts';
import type { SequencerComponents, SequencerInit } from '../../node/own-log/sequencer-init.ts';
import { SubmissionQueue } from '../../node/own-log/submission-queue.ts';
import { type Database, openDatabase } from '../../node/store/database.ts';
import type { LogReader } from '../../node/store/log-reader.ts';
import { LogStore } from '../../node/store/log-store.ts';
import { openCheckpoint, signCheckpoint } from '../../protocol/checkpoint.ts';
import { encodeEntryBundle } from '../../protocol/entry-bundle.ts';
import {
  generateNixSecretKey,
  type LogKey,
  logKeyOf,
  logSigner,
  type NixSecretKey,
} from '../../protocol/keys.ts';
import { leafHash } from '../../protocol/merkle.ts';
import { appendLeaves } from '../../protocol/tile-edge.ts';
import { formatTilePath, type TileId } from '../../protocol/tile-path.ts';

export interface LogFixture {
  readonly dir: string;
  readonly db: Database;
  readonly secret: NixSecretKey;
  readonly key: LogKey;
  readonly store: LogStore;
  readonly queue: SubmissionQueue;
  readonly sequencer: Sequencer;
  /** Queues entries and waits until they are sequenced. */
  append(entries: readonly string[]): Promise<void>;
  close(): Promise<void>;
  /** Closes and deletes the temp dir. */
  destroy(): Promise<void>;
}

export async function tempDir(prefix = 'trustix-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Opens (or reopens, given `dir` and `secret`) a log with a running sequencer. */
export async function openLogFixture(
  options: {
    dir?: string;
    secret?: NixSecretKey;
    init?: SequencerInit;
    resolve?: SequencerComponents['resolve'];
  } = {},
): Promise<LogFixture> {
  const dir = options.dir ?? (await tempDir());
  const secret = options.secret ?? generateNixSecretKey('test-log-1');
  const key = logKeyOf(secret);
  const db = await openDatabase(join(dir, 'db'));
  const store = await LogStore.open(db, key);
  const queue = await SubmissionQueue.open(db);
  const sequencer = new Sequencer(
    {
      db,
      store,
      queue,
      signer: logSigner(secret),
      resolve:
        options.resolve ??
        (async (subs) =>
          subs.map((s) => ({ ok: false, error: new Error(`no resolver for ${s.kind}`), retry: false }))),
    },
    { intervalMs: 0, ...options.init },
  );
  await sequencer.start();
  const close = async () => {
    await sequencer.stop();
    await db.close();
  };
  return {
    dir,
    db,
    secret,
    key,
    store,
    queue,
    sequencer,
    async append(entries) {
      await queue.enqueue(entries.map((entry) => ({ kind: 'entry', entry })));
      await sequencer.flushed();
    },
    close,
    async destroy() {
      await close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A log built with the protocol modules alone and held in memory (tiles and entry bundles by path): the
 * sequencer's output without a store, for serving `entries` as they are, valid or not.
 */
export function memoryLog(name: string, entries: readonly Uint8Array[]): { reader: LogReader; key: LogKey } {
  const secret = generateNixSecretKey(name);
  const key = logKeyOf(secret);
  const appended = appendLeaves(0, [], entries.map(leafHash));
  const tiles = new Map<string, Uint8Array>();
  for (const { tile, data } of appended.tiles) {
    tiles.set(formatTilePath(tile), data);
    if (tile.level !== 0) continue;
    const first = tile.index * 256;
    const bundle = encodeEntryBundle(entries.slice(first, first + tile.width));
    tiles.set(formatTilePath({ kind: 'entries', index: tile.index, width: tile.width }), bundle);
  }
  const note = signCheckpoint(
    { origin: key.name, size: appended.size, root: appended.root, extensions: [] },
    logSigner(secret),
  );
  const checkpoint = openCheckpoint(note, key.verifier);
  const reader: LogReader = {
    logId: key.logId,
    key,
    checkpoint: () => checkpoint,
    readTile: async (tile: TileId) => tiles.get(formatTilePath(tile)),
  };
  return { reader, key };
}
