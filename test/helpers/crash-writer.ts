/**
 * Child process of the crash test: appends synthetic entries to the log in `argv[2]` as fast as it can,
 * printing `ack N` after each batch of submissions is durably queued (acknowledged), until killed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseNixSecretKey } from '../../protocol/keys.ts';
import { openLogFixture } from './log-fixture.ts';
import { syntheticEntries } from './synthetic-entries.ts';

const dir = process.argv[2]!;
const secret = parseNixSecretKey(await readFile(join(dir, 'log.secret')));
const log = await openLogFixture({ dir, secret, init: { intervalMs: 20, maxBatchSubmissions: 4000 } });
const all = syntheticEntries(1_000_000, 99);
let acked = 0;
for (;;) {
  const batch: string[] = [];
  for (let i = 0; i < 500; i++) batch.push(all.next().value as string);
  await log.queue.enqueue(batch.map((entry) => ({ kind: 'entry' as const, entry })));
  acked += batch.length;
  process.stdout.write(`ack ${acked} size ${log.store.size}\n`);
}
