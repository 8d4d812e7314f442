/**
 * A hostile followed builder and its victim, for test/hostile/: the builder is a real log (real LevelDB,
 * real sequencer) served by a real HTTP tile server, and it signs any checkpoint it likes; the victim is
 * a Follower on its own real LevelDB that can restart.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { type Database, openDatabase } from '../../node/store/database.ts';
import { FollowedLogs } from '../../node/store/followed-logs.ts';
import { Follower, type FollowerComponents, type FollowerInit } from '../../node/sync/follower.ts';
import type { TileSource } from '../../node/sync/tile-source.ts';
import { signCheckpoint } from '../../protocol/checkpoint.ts';
import { logSigner } from '../../protocol/keys.ts';
import { openLogFixture, tempDir } from './log-fixture.ts';
import { startTileServer } from './tile-servers.ts';

/** An honest-looking builder (real log, real HTTP tile server) that can sign any checkpoint it likes. */
export async function hostileBuilder(t: ExecutionContext, entries: readonly string[]) {
  // A hostile builder's log is not bound by the cap an honest node's own log keeps per path.
  const log = await openLogFixture({ init: { maxPathEntries: Number.POSITIVE_INFINITY } });
  t.teardown(() => log.destroy());
  await log.append(entries);
  const server = await startTileServer(log.store);
  t.teardown(() => server.stop());
  const claim = (size: number) =>
    signCheckpoint(
      { origin: log.store.checkpoint()!.origin, size, root: randomBytes(32), extensions: [] },
      logSigner(log.secret),
    );
  return { log, source: server.source, claim };
}

export interface Victim {
  db: Database;
  follower: Follower;
  followed: FollowedLogs;
  restart(): Promise<void>;
}

export async function victim(
  t: ExecutionContext,
  /** The victim's sources: the same for every log, or per log. */
  sources: readonly TileSource[] | ((logId: string) => readonly TileSource[]),
  init: FollowerInit = {},
  /** Components beyond the database, the followed logs and the sources (e.g. dataDir). */
  more: Partial<FollowerComponents> = {},
): Promise<Victim> {
  const dir = await tempDir('trustix-hostile-');
  const v = {} as Victim;
  const open = async () => {
    v.db = await openDatabase(join(dir, 'db'));
    v.followed = await FollowedLogs.open(v.db);
    v.follower = new Follower(
      {
        ...more,
        db: v.db,
        followed: v.followed,
        sourcesFor: typeof sources === 'function' ? sources : () => sources,
      },
      init,
    );
    await v.follower.start();
  };
  const close = async () => {
    await v.follower.stop();
    await v.db.close();
  };
  v.restart = async () => {
    await close();
    await open();
  };
  await open();
  t.teardown(async () => {
    await close();
    await rm(dir, { recursive: true, force: true });
  });
  return v;
}
