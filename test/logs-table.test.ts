/** `trustix logs`: the followed-logs table stays aligned whatever the length of a log's name. */
import test from 'ava';
import { followedTable } from '../cli/logs-table.ts';

const row = (name: string, state: string, size: number) => ({
  name,
  state,
  size,
  verifiedSize: size,
  lag: 0,
  weight: 1,
  sources: ['a'],
});

test('a long name and a long state widen their columns instead of shifting the others', (t) => {
  const lines = followedTable([
    row('mercury', 'ok', 12),
    row('builder.with-a-rather-long-name.example.org-1', 'searching', 0),
    row('venus', 'syncing', 123456),
  ]);
  t.is(lines.length, 3);
  // Every column after the name starts at the same offset on every line.
  for (const column of ['size ', 'verified ', 'lag ', 'weight ', 'sources ']) {
    const at = lines.map((l) => l.indexOf(column));
    t.true(
      at.every((i) => i === at[0] && i > 0),
      `${column.trim()}: ${at.join(', ')}`,
    );
  }
  t.is(lines[0]!.indexOf('ok'), lines[1]!.indexOf('searching'));
  t.is(
    lines[1],
    '  builder.with-a-rather-long-name.example.org-1  full  searching  size 0       verified 0       lag 0  weight 1  sources 1',
  );
});

test('a log with a witness quorum shows it, and the checkpoint waiting for it', (t) => {
  const lines = followedTable([
    {
      ...row('mercury', 'ok', 12),
      witnesses: { quorum: 2, witnesses: 3, newestSize: 12, waitingSize: 20, waitingCosigners: 1 },
    },
    { ...row('venus', 'ok', 5), witnesses: { quorum: 1, witnesses: 1, newestSize: 5 } },
    row('saturn', 'ok', 7),
  ]);
  t.true(lines[0]!.endsWith('sources 1  quorum 2 of 3, 20 waits (1 cosigned)'), lines[0]);
  t.true(lines[1]!.endsWith('sources 1  quorum 1 of 1'), lines[1]);
  t.true(lines[2]!.endsWith('sources 1'), lines[2]);
});

test('a paused or failed log gets a line with its reason under its row', (t) => {
  const error = {
    code: 'ERR_DISK_LOW',
    message: '/var/lib/trustix: 10 bytes free, below … (sync.minFreeBytes)',
  };
  const lines = followedTable([
    { ...row('mercury', 'paused', 12), error },
    row('venus', 'ok', 3),
    { ...row('mars', 'syncing', 4), error },
  ]);
  t.is(lines.length, 4, 'a reason only for paused and failed logs');
  t.true(lines[0]!.includes('paused'));
  t.is(lines[1], `    ERR_DISK_LOW: ${error.message}`);
  t.true(lines[2]!.includes('venus'));
});

test('the mode column says full or light (absent: full, as from an older node)', (t) => {
  const lines = followedTable([{ ...row('mercury', 'ok', 12), mode: 'light' }, row('venus', 'ok', 3)]);
  t.regex(lines[0]!, /^ {2}mercury {2}light {2}ok/);
  t.regex(lines[1]!, /^ {2}venus {4}full {3}ok/);
});
