/**
 * The kept lists of a log's DHT providers (node/network/provider-list.ts): one walk per log at a time,
 * a list reused while fresh, an old one serving while a walk refreshes it, empty lists walked again
 * sooner. The walk here is a counting function: the DHT itself is tested in test/libp2p-node.test.ts.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import test from 'ava';
import { ProviderList } from '../node/index.ts';

const LOG_A = 'a'.repeat(64);
const LOG_B = 'b'.repeat(64);

async function peers(n: number): Promise<PeerId[]> {
  return Promise.all(
    Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
  );
}

/** A DHT walk stand-in answering `answers()` (awaited) for each call, recording the logs asked for. */
function walker(answers: () => PeerId[] | Promise<PeerId[]>) {
  const calls: string[] = [];
  return {
    calls,
    providers: {
      findProviders: async (logId: string) => {
        calls.push(logId);
        return answers();
      },
    },
  };
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('requests for one log at the same time share one DHT walk; other logs get their own', async (t) => {
  const [p] = await peers(1);
  const gate = Promise.withResolvers<void>();
  const w = walker(async () => {
    await gate.promise;
    return [p!];
  });
  const list = new ProviderList(w);
  const asked = [list.findProviders(LOG_A), list.findProviders(LOG_A), list.findProviders(LOG_B)];
  gate.resolve();
  const got = await Promise.all(asked);
  t.deepEqual(w.calls, [LOG_A, LOG_B]);
  for (const g of got) t.deepEqual(g.map(String), [p!.toString()]);
});

test('a fresh list is reused without a walk; the caller may reorder its copy', async (t) => {
  const ps = await peers(3);
  const w = walker(() => ps);
  const list = new ProviderList(w, { ttlMs: 60_000 });
  const first = await list.findProviders(LOG_A);
  first.reverse();
  const second = await list.findProviders(LOG_A);
  t.deepEqual(second.map(String), ps.map(String), 'the kept list is not the copy handed out');
  t.is(w.calls.length, 1);
  t.is(list.walks, 1);
});

test('an old list answers at once while a walk in the background replaces it', async (t) => {
  const [old, fresh] = await peers(2);
  const slow = Promise.withResolvers<void>();
  let n = 0;
  const w = walker(async () => {
    if (n++ === 0) return [old!];
    await slow.promise;
    return [fresh!];
  });
  const list = new ProviderList(w, { ttlMs: 1 });
  await list.findProviders(LOG_A);
  await tick(5);
  // Expired: the old list comes back without waiting for the (held) walk.
  t.deepEqual((await list.findProviders(LOG_A)).map(String), [old!.toString()]);
  t.is(w.calls.length, 2);
  // A second request while that walk runs starts no other.
  await list.findProviders(LOG_A);
  t.is(w.calls.length, 2);
  slow.resolve();
  await tick(5);
  t.deepEqual((await list.findProviders(LOG_A)).map(String), [fresh!.toString()]);
});

test('an empty list, or a failed walk, is walked again after emptyTtlMs, the caller waiting for it', async (t) => {
  const [p] = await peers(1);
  let n = 0;
  const w = walker(() => {
    n++;
    if (n === 1) throw new Error('routing table empty');
    if (n === 2) return [];
    return [p!];
  });
  // Wide enough that a loaded machine does not age the list between two calls.
  const list = new ProviderList(w, { ttlMs: 3_600_000, emptyTtlMs: 1_000 });
  t.deepEqual(await list.findProviders(LOG_A), [], 'a failed walk gives no providers, not an error');
  t.deepEqual(await list.findProviders(LOG_A), [], 'a young empty list is the answer: no walk');
  t.is(w.calls.length, 1);
  await tick(1_100);
  t.deepEqual(await list.findProviders(LOG_A), [], 'older: the caller waits for a walk, which finds none');
  await tick(1_100);
  t.deepEqual((await list.findProviders(LOG_A)).map(String), [p!.toString()], 'the next one finds it');
  t.is(w.calls.length, 3);
  t.deepEqual((await list.findProviders(LOG_A)).map(String), [p!.toString()]);
  t.is(w.calls.length, 3, 'a list with providers is kept for ttlMs');
});

test('a walk that finds nobody does not erase a list that named providers', async (t) => {
  const [p] = await peers(1);
  let n = 0;
  const w = walker(() => (n++ === 0 ? [p!] : []));
  const list = new ProviderList(w, { ttlMs: 1 });
  await list.findProviders(LOG_A);
  await tick(5);
  t.deepEqual(
    (await list.findProviders(LOG_A)).map(String),
    [p!.toString()],
    'expired: served, walk started',
  );
  await tick(5);
  t.is(w.calls.length, 2);
  t.deepEqual((await list.findProviders(LOG_A)).map(String), [p!.toString()], 'the empty walk kept the list');
  t.is(w.calls.length, 3, 'and it is still old: walked again');
});

test('at most maxLogs lists are kept; forget drops one', async (t) => {
  const [p] = await peers(1);
  const w = walker(() => [p!]);
  const list = new ProviderList(w, { maxLogs: 1 });
  await list.findProviders(LOG_A);
  await list.findProviders(LOG_B);
  await list.findProviders(LOG_A);
  t.deepEqual(w.calls, [LOG_A, LOG_B, LOG_A], 'LOG_A was dropped for LOG_B');
  list.forget(LOG_A);
  await list.findProviders(LOG_A);
  t.is(w.calls.length, 4);
});

test('after renew the next request waits for a walk; one that finds nobody keeps the providers known', async (t) => {
  const [old, fresh] = await peers(2);
  let answer: PeerId[] = [old!];
  const w = walker(() => answer);
  const list = new ProviderList(w, { ttlMs: 3_600_000 });
  await list.findProviders(LOG_A);
  list.renew(LOG_A);
  answer = [];
  t.deepEqual((await list.findProviders(LOG_A)).map(String), [old!.toString()], 'an empty walk keeps them');
  t.is(w.calls.length, 2);
  list.renew(LOG_A);
  answer = [fresh!];
  t.deepEqual((await list.findProviders(LOG_A)).map(String), [fresh!.toString()], 'it waited for the walk');
  t.is(w.calls.length, 3);
  t.deepEqual((await list.findProviders(LOG_A)).map(String), [fresh!.toString()]);
  t.is(w.calls.length, 3, 'then the list is kept');
});
