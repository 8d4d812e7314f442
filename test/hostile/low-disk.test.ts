// Hostile builder, issue item 3: a followed log growing until the disk is full. Before the watermark a
// follower wrote until LevelDB failed (and with it the node's own log). Now, with the data directory's
// file system below sync.minFreeBytes (statfs), syncs pause before writing (state `paused`, ERR_DISK_LOW,
// shown by `trustix logs`) and go on by themselves once space is freed. The data directory is a real
// tmpfs mounted by the test (root needed; skipped with the reason otherwise), filled with a real file.
import { execFile } from 'node:child_process';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { hostileBuilder, victim } from '../helpers/hostile.ts';
import { tempDir } from '../helpers/log-fixture.ts';
import { syntheticEntries } from '../helpers/synthetic-entries.ts';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const MiB = 1024 * 1024;

test('below the low-disk watermark a sync pauses (ERR_DISK_LOW) and resumes once space is freed', async (t) => {
  if (!isRoot) {
    t.log('skipped: mounting a tmpfs needs root');
    t.pass();
    return;
  }
  const dataDir = await tempDir('trustix-low-disk-');
  await mkdir(dataDir, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dataDir]);
  t.teardown(async () => {
    await run('umount', [dataDir]).catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  });
  // 40 MiB of the 64 leave less than the 32 MiB watermark.
  const filler = join(dataDir, 'filler');
  await writeFile(filler, Buffer.alloc(40 * MiB, 1));
  const s = await statfs(dataDir);
  t.true(s.bavail * s.bsize < 32 * MiB);

  const builder = await hostileBuilder(t, [...syntheticEntries(600, 8)]);
  const { logId, vkey } = builder.log.key;
  const v = await victim(
    t,
    [builder.source],
    { refreshOnFollow: false, minFreeBytes: 32 * MiB, diskCheckMs: 200 },
    { dataDir },
  );
  const paused = new Promise<void>((resolve) =>
    v.follower.addEventListener('paused', () => resolve(), { once: true }),
  );
  await v.followed.follow(vkey, { name: 'growing' });
  t.is(v.follower.notify(logId, builder.log.store.checkpoint()!.note), 'new');
  await paused;
  const status = v.follower.status(logId);
  t.is(status?.state, 'paused');
  t.is(status?.verifiedSize, 0, 'nothing written');
  t.is(status?.error?.code, 'ERR_DISK_LOW');
  t.regex(status?.error?.message ?? '', /sync\.minFreeBytes/);

  await rm(filler);
  await v.follower.whenSynced(logId, 600);
  t.like(v.follower.status(logId), { state: 'ok', verifiedSize: 600 });
  t.is(v.follower.status(logId)?.error, undefined);
});
