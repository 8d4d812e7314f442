/**
 * `npm run bench -- log`: the builder's log on a real LevelDB. Durable append of 1,000,000 realistic
 * entries through the queue and the sequencer, bytes on disk, proof latency at that size, the
 * checkpoint interval achieved under a steady stream, and the post-build hook's wall time (bench/hook.ts).
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SignedCheckpoint } from '../protocol/index.ts';
import { openLogFixture } from '../test/helpers/log-fixture.ts';
import { prng, syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { latency, type Measurement, median, suiteResult } from './harness.ts';
import { hookWallTime } from './hook.ts';

const TOTAL = Number(process.env['TRUSTIX_BENCH_LOG_ENTRIES'] ?? 1_000_000);
/** Requests as `trustix import-cache` sends them (node/upstream/cache-import.ts submitSink). */
const REQUEST_BYTES = 512 * 1024;
const REQUEST_ENTRIES = 5000;

export async function run() {
  const m: Measurement[] = [];
  // The sequencer's production defaults: a 500 ms pool, batches of up to 10,000 submissions.
  const log = await openLogFixture({ init: { intervalMs: 500 } });
  try {
    // Durable append: submissions are queued (synced) and sequenced (synced) as in production, in
    // requests as import-cache sends them, one at a time. The entries are made before the clock
    // starts and kept as each request's bytes: a million entry strings held for the whole run would
    // make every garbage collection of the node's own work mark them, which no node does. Each request
    // becomes its submissions inside the timed loop (as the node parses one), then is dropped.
    const requests: Buffer[] = [];
    let entryBytes = 0;
    let chunk: string[] = [];
    let chunkBytes = 0;
    for (const entry of syntheticEntries(TOTAL, 1)) {
      entryBytes += entry.length;
      if (
        chunk.length > 0 &&
        (chunkBytes + entry.length + 32 > REQUEST_BYTES || chunk.length >= REQUEST_ENTRIES)
      ) {
        requests.push(Buffer.from(chunk.join('\n'), 'latin1'));
        chunk = [];
        chunkBytes = 0;
      }
      chunk.push(entry);
      chunkBytes += entry.length + 32;
    }
    requests.push(Buffer.from(chunk.join('\n'), 'latin1'));
    const requestCount = requests.length;
    const started = process.hrtime.bigint();
    for (let i = 0; i < requests.length; i++) {
      const submissions = requests[i]!.toString('latin1')
        .split('\n')
        .map((entry) => ({ kind: 'entry' as const, entry }));
      requests[i] = Buffer.alloc(0);
      await log.queue.enqueue(submissions);
    }
    await log.sequencer.flushed();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    m.push({
      name: `durable append of ${TOTAL} entries (queue + sequencer, synced batches)`,
      median: Math.round(TOTAL / seconds),
      unit: 'entries/s',
      runs: 1,
      target: '>= 50,000 entries/s',
      meanEntryBytes: Math.round(entryBytes / TOTAL),
      requests: requestCount,
    });

    const rand = prng(5);
    const size = log.store.size;
    m.push(
      await latency(
        `inclusion proof from storage at ${size}`,
        () => log.store.inclusionProof(Math.floor(rand() * size)),
        {
          runs: 2000,
          target: 'median <= 1 ms',
        },
      ),
    );
    m.push(
      await latency(`entry by store path at ${size}`, async () => {
        const e = (await log.store.entry(Math.floor(rand() * size)))!;
        const hashPart = new TextDecoder().decode(e).slice(13, 45);
        await log.store.entriesForPath(hashPart);
      }),
    );
  } finally {
    await log.close();
  }
  const bytes = (await dirSize(join(log.dir, 'db'))) + (await dirSize(join(log.dir, 'queue')));
  m.push({
    name: 'bytes on disk per entry (LevelDB and submission journal, after close)',
    median: Math.round(bytes / TOTAL),
    unit: 'bytes/entry',
    runs: 1,
    target: '<= 350 bytes/entry',
  });
  await rm(log.dir, { recursive: true, force: true });

  m.push(await checkpointInterval());
  m.push(await hookWallTime());
  return suiteResult('log', m);
}

/** Steady stream of submissions with the default 500 ms pool: the intervals between checkpoints. */
async function checkpointInterval(): Promise<Measurement> {
  const log = await openLogFixture({ init: { intervalMs: 500 } });
  const times: number[] = [];
  log.sequencer.addEventListener('checkpoint', (e) => {
    if ((e as CustomEvent<SignedCheckpoint>).detail.size > 0) times.push(performance.now());
  });
  const entries = syntheticEntries(100_000, 3);
  const end = performance.now() + 6000;
  while (performance.now() < end) {
    const batch = Array.from({ length: 100 }, () => ({
      kind: 'entry' as const,
      entry: entries.next().value as string,
    }));
    await log.queue.enqueue(batch);
    await new Promise((r) => setTimeout(r, 20));
  }
  await log.sequencer.flushed();
  await log.destroy();
  const intervals = times.slice(1).map((t, i) => t - times[i]!);
  return {
    name: 'checkpoint interval under a steady stream (5,000 entries/s, pool 500 ms)',
    median: Math.round(median(intervals)),
    unit: 'ms',
    runs: intervals.length,
  };
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [])) total += (await stat(join(dir, name))).size;
  return total;
}
