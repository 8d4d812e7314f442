// The followed-log set: durable across reopen, strict about keys, names and weights.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { StoreCorruptError } from '../node/errors.ts';
import { openDatabase } from '../node/store/database.ts';
import { FollowedLogs, NameInUseError } from '../node/store/followed-logs.ts';
import { followedLogKey } from '../node/store/layout.ts';
import { parseWeight } from '../node/store/log-weight.ts';
import { MalformedError, OutOfRangeError } from '../protocol/errors.ts';
import { formatNixPublicKey, generateNixSecretKey, logKeyOf } from '../protocol/keys.ts';
import { tempDir } from './helpers/log-fixture.ts';

const alice = generateNixSecretKey('alice-log');
const bob = generateNixSecretKey('bob-log');
const aliceKey = logKeyOf(alice);
const bobKey = logKeyOf(bob);

async function withStore(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await tempDir('trustix-follow-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'db');
}

test('followed logs persist across reopen with their names and weights, and unfollow persists too', async (t) => {
  const path = await withStore(t);
  let db = await openDatabase(path);
  let logs = await FollowedLogs.open(db);
  const events: string[] = [];
  logs.addEventListener('followed', (e) => events.push(`+${e.detail.name}`));
  logs.addEventListener('unfollowed', (e) => events.push(`-${e.detail.name}`));

  const a = await logs.follow(aliceKey.vkey);
  t.true(a.added);
  t.is(a.log.name, 'alice-log');
  t.is(a.log.weight, 1);
  // The Nix public key form names the same log.
  const b = await logs.follow(formatNixPublicKey(bob), { name: 'bob', weight: 2.5 });
  t.is(b.log.logId, bobKey.logId);
  t.deepEqual(
    logs.list().map((l) => [l.name, l.weight]),
    [
      ['alice-log', 1],
      ['bob', 2.5],
    ],
  );
  // Following again changes only what is given; the same values again is a no-op.
  t.false((await logs.follow(aliceKey, { weight: 3 })).added);
  t.false((await logs.follow(aliceKey, { weight: 3 })).added);
  t.deepEqual(events, ['+alice-log', '+bob', '+alice-log']);
  await db.close();

  db = await openDatabase(path);
  logs = await FollowedLogs.open(db);
  t.deepEqual(
    logs.list().map((l) => [l.logId, l.name, l.weight, l.vkey]),
    [
      [aliceKey.logId, 'alice-log', 3, aliceKey.vkey],
      [bobKey.logId, 'bob', 2.5, bobKey.vkey],
    ],
  );
  // Found by log ID, name, vkey and Nix public key.
  t.is(logs.get(bobKey.logId)?.name, 'bob');
  t.is(logs.get('bob')?.logId, bobKey.logId);
  t.is(logs.get(bobKey.vkey)?.name, 'bob');
  t.is(logs.get(formatNixPublicKey(bob))?.name, 'bob');
  t.is(logs.get('nobody'), undefined);

  t.is((await logs.unfollow('bob'))?.logId, bobKey.logId);
  t.is(await logs.unfollow('bob'), undefined);
  await db.close();

  db = await openDatabase(path);
  logs = await FollowedLogs.open(db);
  t.deepEqual(
    logs.list().map((l) => l.name),
    ['alice-log'],
  );
  await db.close();
});

test('bad keys, names and weights are refused with typed errors and change nothing', async (t) => {
  const path = await withStore(t);
  const db = await openDatabase(path);
  const logs = await FollowedLogs.open(db);
  await logs.follow(aliceKey.vkey, { name: 'alice' });

  // A vkey with a wrong key hash, garbage, a truncated Nix key, two lines.
  const [name, hash, key] = bobKey.vkey.split('+') as [string, string, string];
  const badHash = `${name}+${hash === '00000000' ? '11111111' : '00000000'}+${key}`;
  for (const bad of [badHash, 'not a key', `${formatNixPublicKey(bob).slice(0, -4)}`, `${bobKey.vkey}\n`, ''])
    await t.throwsAsync(async () => logs.follow(bad), { instanceOf: MalformedError }, JSON.stringify(bad));
  for (const weight of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e7])
    await t.throwsAsync(
      async () => logs.follow(bobKey, { weight }),
      { instanceOf: OutOfRangeError },
      String(weight),
    );
  for (const bad of ['has space', 'plus+sign', '', 'x'.repeat(300)])
    await t.throwsAsync(async () => logs.follow(bobKey, { name: bad }), { instanceOf: MalformedError }, bad);
  await t.throwsAsync(logs.follow(bobKey, { name: 'alice' }), { instanceOf: NameInUseError });
  t.deepEqual(
    logs.list().map((l) => l.name),
    ['alice'],
  );
  await db.close();
});

test('parseWeight takes plain positive decimals only', (t) => {
  t.is(parseWeight('1'), 1);
  t.is(parseWeight('0.5'), 0.5);
  t.is(parseWeight('2.25'), 2.25);
  for (const bad of ['-1', '1e3', '01', '1.', '.5', ' 1', 'one', '', 'Infinity', '99999999'])
    t.throws(() => parseWeight(bad), { instanceOf: MalformedError }, bad);
  for (const zero of ['0', '0.0']) t.throws(() => parseWeight(zero), { instanceOf: OutOfRangeError }, zero);
});

test('a damaged record is reported as a corrupt store', async (t) => {
  const path = await withStore(t);
  const db = await openDatabase(path);
  await db.put(followedLogKey(aliceKey.logId), new TextEncoder().encode('{"vkey":"nope"}'));
  await t.throwsAsync(FollowedLogs.open(db), { instanceOf: StoreCorruptError });
  // A valid record filed under another log's ID is damage too.
  const value = JSON.stringify({ vkey: bobKey.vkey, name: 'bob', weight: 1 });
  await db.put(followedLogKey(aliceKey.logId), new TextEncoder().encode(value));
  await t.throwsAsync(FollowedLogs.open(db), { instanceOf: StoreCorruptError });
  await db.close();
});

test('a log followed light stays light across reopen; following again keeps the mode unless told; a bad record is corrupt', async (t) => {
  const path = await withStore(t);
  let db = await openDatabase(path);
  let logs = await FollowedLogs.open(db);
  t.false((await logs.follow(bobKey.vkey)).log.light, 'full by default');
  t.true((await logs.follow(aliceKey.vkey, { light: true })).log.light);
  const again = await logs.follow(aliceKey.vkey, { weight: 3 });
  t.true(again.log.light, 'a new weight does not change the mode');
  await db.close();
  db = await openDatabase(path);
  logs = await FollowedLogs.open(db);
  t.true(logs.get(aliceKey.logId)!.light);
  t.false(logs.get(bobKey.logId)!.light);
  const back = await logs.follow(aliceKey.vkey, { light: false });
  t.false(back.log.light);
  t.false(back.added);
  await db.put(
    followedLogKey(bobKey.logId),
    new TextEncoder().encode(JSON.stringify({ vkey: bobKey.vkey, name: 'bob', weight: 1, light: 'yes' })),
  );
  await db.close();
  db = await openDatabase(path);
  await t.throwsAsync(FollowedLogs.open(db), { instanceOf: StoreCorruptError });
  await db.close();
});
