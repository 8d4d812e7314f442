// Keyless peers, issue item 9: kad-dht stored every provider record a peer sent, for any CID, with no
// bound per peer. Now libp2p's datastore (node/network/provider-cap.ts) keeps at most a set number per
// peer; this node's own records and the records of other peers are unaffected.
import { rm } from 'node:fs/promises';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import test, { type ExecutionContext } from 'ava';
import { Key } from 'interface-datastore';
import { LIBP2P_SUBLEVEL } from '../../node/network/libp2p-node.ts';
import { logCid } from '../../node/network/log-providers.ts';
import { ProviderCappedDatastore } from '../../node/network/provider-cap.ts';
import { type Database, openDatabase } from '../../node/store/database.ts';
import { generateNixSecretKey, logKeyOf } from '../../protocol/keys.ts';
import { tempDir } from '../helpers/log-fixture.ts';
import { dialAddress, startTestNode, waitFor } from '../helpers/p2p.ts';

async function database(t: ExecutionContext): Promise<{ db: Database; dir: string }> {
  const dir = await tempDir('trustix-provider-cap-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const db = await openDatabase(`${dir}/db`);
  t.teardown(() => db.close());
  return { db, dir };
}

/** Provider records held in `db`'s libp2p datastore, by providing peer. */
async function recordsBy(db: Database): Promise<Map<string, number>> {
  const by = new Map<string, number>();
  const store = db.sublevel<string, Uint8Array>(LIBP2P_SUBLEVEL, {
    keyEncoding: 'utf8',
    valueEncoding: 'view',
  });
  for await (const key of store.keys({ gte: '/dht/provider/', lt: '/dht/provider0' })) {
    const peer = key.split('/').at(-1)!;
    by.set(peer, (by.get(peer) ?? 0) + 1);
  }
  return by;
}

const cid = (i: number) => logCid(logKeyOf(generateNixSecretKey(`provided-${i}`)).logId);
const key = (i: number, peer: string) => new Key(`/dht/provider/cid${i}/${peer}`);

test('a peer providing many CIDs to a node has at most the cap of its records kept; others are unaffected', async (t) => {
  const { db } = await database(t);
  const victim = await startTestNode(t, { db, maxProviderRecordsPerPeer: 3 });
  const flooder = await startTestNode(t, { bootstrap: [dialAddress(victim)] });
  const honest = await startTestNode(t, { bootstrap: [dialAddress(victim)] });
  await waitFor('both connected', () => victim.getConnections().length >= 2);
  for (let i = 0; i < 8; i++)
    await flooder.contentRouting.provide(cid(i), { signal: AbortSignal.timeout(30_000) });
  // kad-dht sends ADD_PROVIDER without an answer: the honest record, sent last, shows the others came.
  await honest.contentRouting.provide(cid(100), { signal: AbortSignal.timeout(30_000) });
  await waitFor(
    'the honest record kept',
    async () => (await recordsBy(db)).get(honest.peerId.toString()) === 1,
  );
  await waitFor(
    'the flooder at its cap',
    async () => (await recordsBy(db)).get(flooder.peerId.toString()) === 3,
  );
  t.is((await recordsBy(db)).get(flooder.peerId.toString()), 3);
});

test('the cap counts records, not writes: a refresh is kept, a delete frees a place, own records are never capped, and counts survive a reopen', async (t) => {
  const { db } = await database(t);
  const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
  const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
  const sublevel = () =>
    db.sublevel<string, Uint8Array>(LIBP2P_SUBLEVEL, { keyEncoding: 'utf8', valueEncoding: 'view' });
  const open = async () => {
    // biome-ignore lint/suspicious/noExplicitAny: a sublevel is Level-shaped (see libp2p-node.ts's openDatastore)
    const store = new ProviderCappedDatastore(sublevel() as any, { prefixes: ['/dht'], maxPerPeer: 2, self });
    await store.open();
    return store;
  };
  const value = new Uint8Array([1]);
  let store = await open();
  for (const i of [0, 1, 2]) await store.put(key(i, peer), value);
  t.true(await store.has(key(1, peer)));
  t.false(await store.has(key(2, peer)), 'the third record of the peer is not kept');
  await store.put(key(1, peer), new Uint8Array([2]));
  t.deepEqual([...(await store.get(key(1, peer)))], [2], 'a refresh of a held record is kept');
  for (const i of [0, 1, 2, 3]) await store.put(key(i, self), value);
  for (const i of [0, 1, 2, 3]) t.true(await store.has(key(i, self)), 'own records are never capped');
  await store.delete(key(0, peer));
  await store.put(key(2, peer), value);
  t.true(await store.has(key(2, peer)), 'a delete freed a place');
  await store.close();
  store = await open();
  t.is(store.recordsOf(peer), 2);
  await store.put(key(5, peer), value);
  t.false(await store.has(key(5, peer)), 'the counts were rebuilt at open');
});
