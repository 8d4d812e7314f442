// libp2p 3 rewrites the remote peer's record in the peer store on every stream, by either end: with the
// peer store in the node's LevelDB, one read and one write per stream (a lookup is one stream, so a
// light node's cold decision paid 8 of each on both sides). node/network/peer-record-buffer.ts holds
// the records in memory and writes them behind: the streams go on, LevelDB sees few writes, and the
// newest record is in LevelDB once the node stopped (and read back by the next start).
import { rm } from 'node:fs/promises';
import test, { type ExecutionContext } from 'ava';
import { LIBP2P_SUBLEVEL } from '../node/network/libp2p-node.ts';
import { type Database, openDatabase } from '../node/store/database.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { startTestNode } from './helpers/p2p.ts';

async function database(t: ExecutionContext): Promise<Database> {
  const dir = await tempDir('trustix-peer-records-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const db = await openDatabase(`${dir}/db`);
  t.teardown(() => db.close());
  return db;
}

/** Peer-store writes LevelDB was asked to make (puts of `/peers/` keys, alone or in batches). */
function countPeerWrites(db: Database): { readonly count: number } {
  const seen = { count: 0 };
  const text = (key: unknown) =>
    key instanceof Uint8Array ? Buffer.from(key).toString('latin1') : String(key);
  db.on('write', (ops: { type: string; key: unknown }[]) => {
    for (const op of ops) if (op.type === 'put' && text(op.key).includes('/peers/')) seen.count++;
  });
  return seen;
}

test('streams to a peer do not each write its peer record to LevelDB; the newest record is stored at stop and read back', async (t) => {
  const db = await database(t);
  const writes = countPeerWrites(db);
  const node = await startTestNode(t, { db, redial: { interval: 60_000 } });
  const other = await startTestNode(t);
  await node.services.ping.ping(other.getMultiaddrs()[0]!);
  // Each ping is a new stream (libp2p merges the ping protocol into the peer's record every time): 48
  // streams, 4 at a time (half the ping service's cap of 8: the other end may still be closing the
  // streams of the round before, and a ninth would be reset). Written behind, at most one write a second.
  const start = Date.now();
  const at = writes.count;
  for (let round = 0; round < 12; round++)
    await Promise.all(Array.from({ length: 4 }, () => node.services.ping.ping(other.peerId)));
  const made = writes.count - at;
  const seconds = (Date.now() - start) / 1000;
  t.true(made <= Math.ceil(seconds) + 1, `${made} peer-record writes for 48 streams in ${seconds} s`);

  await node.stop();
  t.true(writes.count > 0, 'the record was written once the node stopped');
  const raw = db.sublevel<string, Uint8Array>(LIBP2P_SUBLEVEL, {
    keyEncoding: 'utf8',
    valueEncoding: 'view',
  });
  const stored: Uint8Array[] = [];
  for await (const [key, value] of raw.iterator({ gte: '/peers/', lt: '/peers0' }))
    if (key.length > '/peers/'.length) stored.push(value);
  t.true(stored.length >= 1);

  // A new start on the same LevelDB reads the record: the peer and the protocol it spoke.
  const again = await startTestNode(t, { db, redial: { interval: 60_000 } });
  const peer = await again.peerStore.get(other.peerId);
  t.true(peer.protocols.includes('/ipfs/ping/1.0.0'), `protocols: ${peer.protocols.join(', ')}`);
});
