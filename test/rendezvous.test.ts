/**
 * Discovery with no Trustix server at all (docs/PROTOCOL.md, "Rendezvous"): three plain libp2p nodes that
 * speak only the public DHT protocol (`/ipfs/kad/1.0.0`, knowing nothing of Trustix) stand in for the
 * public Amino network. A builder and a user whose only bootstrap peers are those nodes meet through the
 * rendezvous CID's provider records, then the user follows the builder, syncs and verifies its log.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import test, { type ExecutionContext } from 'ava';
import { createLibp2p, type Libp2p } from 'libp2p';
import { TrustixNode } from '../node/assembly/trustix-node.ts';
import { rendezvousCid } from '../node/network/rendezvous.ts';
import { initDataDir } from '../node/store/data-dir.ts';
import { verifyLog } from '../node/store/log-verifier.ts';
import { PUBLIC_DHT_PROTOCOL, RENDEZVOUS_NAMESPACE } from '../protocol/constants.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { LOOPBACK_INIT, waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

/** A node of the stand-in public network: a DHT server on the public protocol, nothing else. */
async function publicDhtNode(t: ExecutionContext): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: PUBLIC_DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper }),
    },
  });
  t.teardown(() => node.stop());
  return node;
}

test('the rendezvous CID is CIDv1(raw, sha2-256 of the namespace)', async (t) => {
  const cid = await rendezvousCid();
  t.is(RENDEZVOUS_NAMESPACE, 'trustix rendezvous v1');
  t.is(cid.version, 1);
  t.is(cid.code, 0x55);
  t.is(cid.multihash.code, 0x12);
  t.is(
    Buffer.from(cid.multihash.digest).toString('hex'),
    (await import('node:crypto')).createHash('sha256').update(RENDEZVOUS_NAMESPACE).digest('hex'),
  );
  // Pinned: nodes of every version meet at the same CID.
  t.is(cid.toString(), 'bafkreidaqa5p5lctpoe7aim2ge5kbdrqvnlxcxukvq62omk4qtqxmwp7dm');
});

test('a builder and a user that know only public DHT nodes meet at the rendezvous and sync', async (t) => {
  const stand = await Promise.all([0, 1, 2].map(() => publicDhtNode(t)));
  for (const a of stand) for (const b of stand) if (a !== b) await a.dial(b.getMultiaddrs()[0]!);
  const bootstrap = stand.map((n) => n.getMultiaddrs()[0]!.toString());

  const start = async (name: string) => {
    const dataDir = await tempDir(`trustix-rdv-${name}-`);
    await initDataDir(dataDir, { name });
    const node = new TrustixNode({
      dataDir,
      http: false,
      sequencer: { intervalMs: 20 },
      gossip: { republishIntervalMs: 1000 },
      follower: { retryDelayMs: 200, maxRetryDelayMs: 1000 },
      rendezvous: { lookupIntervalMs: 300, retryDelayMs: 300, findTimeoutMs: 5_000 },
      p2p: { ...LOOPBACK_INIT, bootstrap, publicDht: { privateAddresses: true } },
    });
    await node.start();
    t.teardown(() => node.stop());
    return node;
  };
  const started = performance.now();
  const [builder, user] = await Promise.all([start('mercury'), start('alice')]);
  await waitFor(
    'builder and user connected',
    () => user.libp2p!.getConnections(builder.libp2p!.peerId).length > 0,
    { timeout: 30_000, interval: 50 },
  );
  t.log(`first Trustix peer after ${Math.round(performance.now() - started)} ms`);
  // The stand-ins hold the rendezvous records (and nothing of Trustix's own protocols).
  for (const n of stand)
    t.false((await n.peerStore.get(n.peerId)).protocols.some((p) => p.startsWith('/trustix/')));

  const entries = [...syntheticEntries(300, 5)];
  const { submit } = await import('../node/socket/submit-client.js');
  const { join } = await import('node:path');
  await submit(
    join((builder as unknown as { init: { dataDir: string } }).init.dataDir, 'trustix.sock'),
    entries.map((entry) => ({ kind: 'entry' as const, entry })),
  );
  await waitFor('sequenced', () => builder.ownLog.size === entries.length);
  await user.followed.follow(builder.keys.log.vkey);
  const logId = builder.ownLog.logId;
  await waitFor('synced', () => (user.follower!.status(logId)?.verifiedSize ?? 0) >= entries.length, {
    timeout: 60_000,
    interval: 50,
  });
  t.like(await verifyLog(user.follower!.get(logId)!), { size: entries.length });
});
