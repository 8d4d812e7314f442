/**
 * The logs of the light benchmark (bench/light.ts), written straight into a full provider's data directory
 * while its node is stopped: the provider follows each log (full), and each log is appended by its own
 * sequencer on the provider's LevelDB (the builder's key signs the checkpoints) from the submission queue,
 * in batches of 20,000. What the provider ends with is what a full follow would have stored (tiles, entry
 * bundles, path index, checkpoint, under the log's prefix), without moving 2,000,000 entries a log over
 * libp2p. The second provider gets a copy of the closed LevelDB (`copyDatabase`).
 *
 * The entries: one stream of paths shared by all logs, each with one honest value, except that saturn
 * gives every fifth path its own NAR hash; `pool` keeps paths spread over the whole log, to be asked.
 */
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FollowedLogs } from '../node/index.ts';
import type { generateNixSecretKey } from '../protocol/index.ts';

type NixSecretKey = ReturnType<typeof generateNixSecretKey>;

import { openLogFixture } from '../test/helpers/log-fixture.ts';
import { fingerprint, prng, randomNarHash, randomStorePath } from '../test/helpers/synthetic-entries.ts';

const CHUNK = 20_000;

/** The `i`-th path's entry in log `name` (deterministic: every log sees the same stream). */
export interface EntryStream {
  next(): { path: string; honest: string; other: string };
}

function entryStream(seed: number): EntryStream {
  const rand = prng(seed);
  const otherRand = prng(seed + 1);
  let i = 0;
  return {
    next() {
      const path = randomStorePath(rand);
      const honest = fingerprint(path, randomNarHash(rand), 1000 + (i % 10_000), []);
      const other = fingerprint(path, randomNarHash(otherRand), 7, []);
      i++;
      return { path, honest, other };
    },
  };
}

/**
 * Appends `entriesPerLog` entries to each of `logs` in the (stopped) provider at `dataDir`, which follows
 * them in full. Returns up to `poolSize` paths spread evenly over the log, with their honest entry.
 */
export async function seedProvider(
  dataDir: string,
  logs: readonly { name: string; secret: NixSecretKey }[],
  entriesPerLog: number,
  poolSize: number,
): Promise<{ path: string; entry: string }[]> {
  const pool: { path: string; entry: string }[] = [];
  const every = Math.max(1, Math.floor(entriesPerLog / poolSize));
  for (const [n, { name, secret }] of logs.entries()) {
    const fixture = await openLogFixture({
      dir: dataDir,
      secret,
      init: { intervalMs: 0, maxBatchSubmissions: CHUNK },
    });
    try {
      const followed = await FollowedLogs.open(fixture.db);
      await followed.follow(fixture.key, { name });
      const stream = entryStream(entriesPerLog);
      for (let done = 0; done < entriesPerLog; done += CHUNK) {
        const chunk: { kind: 'entry'; entry: string }[] = [];
        for (let i = done; i < Math.min(entriesPerLog, done + CHUNK); i++) {
          const e = stream.next();
          if (n === 0 && i % every === 0 && pool.length < poolSize)
            pool.push({ path: e.path, entry: e.honest });
          chunk.push({ kind: 'entry', entry: name === 'saturn' && i % 5 === 0 ? e.other : e.honest });
        }
        await fixture.queue.enqueue(chunk);
        // Bounded memory: the queue is drained before the next chunk is generated.
        if ((done / CHUNK) % 10 === 9) await fixture.sequencer.flushed();
      }
      await fixture.sequencer.flushed();
      if (fixture.store.size !== entriesPerLog)
        throw new Error(`bench light: ${name} holds ${fixture.store.size} entries, not ${entriesPerLog}`);
    } finally {
      await fixture.close();
    }
  }
  return pool;
}

/** Replaces the LevelDB of the data directory `to` with a copy of the (closed) one of `from`. */
export async function copyDatabase(from: string, to: string): Promise<void> {
  await rm(join(to, 'db'), { recursive: true, force: true });
  await cp(join(from, 'db'), join(to, 'db'), { recursive: true });
}
