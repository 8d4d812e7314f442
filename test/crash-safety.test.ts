import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { verifyLog } from '../node/store/log-verifier.ts';
import { formatNixSecretKey, generateNixSecretKey } from '../protocol/keys.ts';
import { leafHash, rootFromLeafHashes } from '../protocol/merkle.ts';
import { openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

const decoder = new TextDecoder();

test('kill -9 during large batches: the store reopens, verifies, and holds every acknowledged submission', async (t) => {
  const dir = await tempDir('trustix-crash-');
  const secret = generateNixSecretKey('crash-log-1');
  await writeFile(join(dir, 'log.secret'), formatNixSecretKey(secret), { mode: 0o600 });

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'helpers', 'crash-writer.ts'), dir],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let acked = 0;
  let sizeSeen = 0;
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  for await (const line of createInterface({ input: child.stdout })) {
    const m = /^ack (\d+) size (\d+)$/.exec(line);
    if (!m) continue;
    acked = Number(m[1]);
    sizeSeen = Number(m[2]);
    // Kill while both queueing and sequencing are busy.
    if (acked >= 30_000 && sizeSeen > 0) {
      child.kill('SIGKILL');
      break;
    }
  }
  t.is(await exited, 'SIGKILL');
  t.true(acked >= 30_000);

  // Reopening verifies the stored tiles against the last checkpoint (LogStore.open).
  const log = await openLogFixture({ dir, secret });
  t.teardown(() => log.destroy());
  t.true(log.store.size >= sizeSeen, `log has ${log.store.size}, child had seen ${sizeSeen}`);
  await log.sequencer.flushed();

  const expected = [...syntheticEntries(acked, 99)];
  const size = log.store.size;
  t.true(size >= acked, `${size} entries in the log, ${acked} acknowledged`);
  const stored: string[] = [];
  for (let i = 0; i < size; i++) stored.push(decoder.decode((await log.store.entry(i))!));
  t.deepEqual(stored.slice(0, acked), expected, 'acknowledged entries are all present, in order');
  t.deepEqual(
    Buffer.from(rootFromLeafHashes(stored.map((e) => leafHash(new TextEncoder().encode(e))))),
    Buffer.from(log.store.root),
  );
  // And the store passes the full verification: tiles, bundles, path index, checkpoint.
  t.like(await verifyLog(log.store), { size });
});
