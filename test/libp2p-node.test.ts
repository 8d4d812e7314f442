import '../node/runtime/promise-with-resolvers.ts';
import { createHash } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys';
import { peerIdFromPublicKey } from '@libp2p/peer-id';
import test from 'ava';
import * as raw from 'multiformats/codecs/raw';
import { providingDhts } from '../node/network/dhts.ts';
import { createLibp2pNode, LIBP2P_SUBLEVEL, ListenError } from '../node/network/libp2p-node.ts';
import { CONNECTION_PING_INTERVAL_MS } from '../node/network/libp2p-node-init.ts';
import type { TrustixLibp2p } from '../node/network/libp2p-services.ts';
import { LogProviders, logCid } from '../node/network/log-providers.ts';
import {
  loadOrCreatePeerIdentity,
  PeerIdentityError,
  peerSecretPath,
} from '../node/network/peer-identity.ts';
import { afterProvide, type ProvidingDht } from '../node/network/provide-reach.ts';
import { openDatabase } from '../node/store/database.ts';
import { CHECKPOINT_TOPIC } from '../protocol/constants.ts';
import { formatNixSecretKey, generateNixSecretKey, logKeyOf, parseNixSecretKey } from '../protocol/keys.ts';
import { tempDir } from './helpers/log-fixture.ts';
import {
  dialAddress,
  joinTopic,
  startTestNetwork,
  startTestNode,
  waitFor,
  waitForConnections,
} from './helpers/p2p.ts';

/** libp2p's ping protocol, which its connection monitor uses. */
const PING_PROTOCOL = '/ipfs/ping/1.0.0';

async function temp(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await tempDir('trustix-p2p-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range (32768-60999):
 * one from that range can be taken before the test listens on it, by any process's outgoing connection
 * or port-0 listener (a CI run failed so, EADDRINUSE), while ports below it are only ever taken by name.
 */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
}

test('peer identity: created once as a 0600 Nix secret key, same PeerId after reopen and in libp2p', async (t) => {
  const dir = await temp(t);
  const first = await loadOrCreatePeerIdentity(dir);
  t.true(first.created);
  t.is((await stat(peerSecretPath(dir))).mode & 0o777, 0o600);
  const fileBefore = await readFile(peerSecretPath(dir), 'utf8');
  const second = await loadOrCreatePeerIdentity(dir);
  t.false(second.created);
  t.true(second.peerId.equals(first.peerId));
  t.is(await readFile(peerSecretPath(dir), 'utf8'), fileBefore, 'never rewritten');
  // The Nix route (public half of the file) and the libp2p route give one PeerId.
  const nix = parseNixSecretKey(fileBefore);
  t.true(peerIdFromPublicKey(publicKeyFromRaw(nix.publicKey)).equals(first.peerId));
  const node = await startTestNode(t, { privateKey: second.privateKey });
  t.true(node.peerId.equals(first.peerId));
});

test('peer identity: a peer.secret whose public half does not match its seed is refused', async (t) => {
  const dir = await temp(t);
  const a = generateNixSecretKey('peer-a');
  const b = generateNixSecretKey('peer-b');
  const tampered = formatNixSecretKey({ ...a, signingKey: b.signingKey }); // seed of A, public key of B
  t.not(tampered, formatNixSecretKey(a));
  await writeFile(peerSecretPath(dir), tampered, { mode: 0o600 });
  const err = await t.throwsAsync(loadOrCreatePeerIdentity(dir), { instanceOf: PeerIdentityError });
  t.is(err?.code, 'ERR_PEER_IDENTITY');
  t.is(await readFile(peerSecretPath(dir), 'utf8'), tampered, 'a refused key is left as it was');
});

test('1 bootstrap + 4 nodes that only know the bootstrap address find each other', async (t) => {
  const started = performance.now();
  const net = await startTestNetwork(t, 4);
  t.log(`start of 5 nodes: ${(performance.now() - started).toFixed(0)} ms`);
  const t0 = performance.now();
  await waitForConnections(net.nodes, 2, 60_000);
  t.log(`every node has > 1 connection after ${(performance.now() - t0).toFixed(0)} ms`);
  for (const node of net.nodes) {
    const others = node.getPeers().filter((p) => !p.equals(net.bootstrap.peerId));
    t.true(others.length >= 1, `${node.peerId} knows a peer besides the bootstrap node`);
    t.is(node.services.dht.getMode(), 'server');
  }
});

test('DHT: a log provided by one node is found by another through findProviders', async (t) => {
  const net = await startTestNetwork(t, 4);
  await waitForConnections(net.nodes, 2, 60_000);
  const provider = net.nodes[0]!;
  const seeker = net.nodes[3]!;
  const cid = logCid(logKeyOf(generateNixSecretKey('dht-log')).logId);
  let t0 = performance.now();
  await provider.contentRouting.provide(cid, { signal: AbortSignal.timeout(10_000) });
  t.log(`provide: ${(performance.now() - t0).toFixed(0)} ms`);
  t0 = performance.now();
  let found = false;
  for await (const peer of seeker.contentRouting.findProviders(cid, {
    signal: AbortSignal.timeout(10_000),
  })) {
    if (peer.id.equals(provider.peerId)) {
      found = true;
      break;
    }
  }
  t.log(`findProviders: ${(performance.now() - t0).toFixed(2)} ms`);
  t.true(found, 'the provider was found');
});

/**
 * A node's Trustix DHT, its provides counted: `calls` (each is a walk and up to k ADD_PROVIDER requests)
 * and, per provide ended, the peers that took the record.
 */
function countedDht(node: TrustixLibp2p): { dht: ProvidingDht; calls: () => number; reaches: number[] } {
  const [real] = providingDhts(node);
  let calls = 0;
  const reaches: number[] = [];
  const dht: ProvidingDht = {
    k: real!.k,
    routingTable: real!.routingTable,
    provide(key, options) {
      calls++;
      return (async function* () {
        let reached = 0;
        try {
          for await (const event of real!.provide(key, options)) {
            if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') reached++;
            yield event;
          }
        } finally {
          reaches.push(reached);
        }
      })();
    },
  };
  return { dht, calls: () => calls, reaches };
}

/** Whether `node`'s own provider store lists `provider` for `logId` (its lookup answers from there first). */
async function holdsRecord(node: TrustixLibp2p, logId: string, provider: TrustixLibp2p): Promise<boolean> {
  for await (const event of node.services.dht.findProviders(logCid(logId), {
    signal: AbortSignal.timeout(10_000),
  }))
    if (
      event.name === 'PROVIDER' &&
      event.from.equals(node.peerId) &&
      event.providers.some((p) => p.id.equals(provider.peerId))
    )
      return true;
  return false;
}

test('log providers: a held log is provided in the background and found by others, never by itself; provided once however often it is synced', async (t) => {
  const net = await startTestNetwork(t, 3);
  await waitForConnections(net.nodes, 2, 60_000);
  const counted = countedDht(net.nodes[0]!);
  const [a, b] = net.nodes.map(
    (n, i) =>
      new LogProviders(
        { contentRouting: n.contentRouting, dhts: i === 0 ? [counted.dht] : [], peerId: n.peerId },
        { findTimeoutMs: 5000 },
      ),
  );
  a!.start();
  b!.start();
  t.teardown(async () => {
    await a!.stop();
    await b!.stop();
  });
  const logId = logKeyOf(generateNixSecretKey('providers-log')).logId;
  a!.provide(logId);
  let found: string[] = [];
  await waitFor('a provider record', async () => {
    found = (await b!.findProviders(logId)).map(String);
    return found.length > 0;
  });
  t.deepEqual(found, [net.nodes[0]!.peerId.toString()]);
  t.deepEqual(await a!.findProviders(logId), [], 'a node does not list itself');
  // A follower calls provide after every sync of the log: once the record is out, it is not sent again.
  await waitFor('the announcement to end', () => counted.reaches.length === 1);
  t.true(counted.reaches[0]! >= 1, 'the record reached a peer');
  for (let i = 0; i < 5; i++) a!.provide(logId);
  t.is(counted.calls(), 1, 'announced once, not once per call');
  // The CID is exactly DESIGN's: CIDv1, raw codec, sha2-256 multihash of the log ID bytes.
  const cid = logCid(logId);
  t.is(cid.version, 1);
  t.is(cid.code, raw.code);
  t.is(Buffer.from(cid.multihash.digest).toString('hex'), logId);
});

test('log providers: a log provided while the routing table held one peer is provided again once it has doubled, and its record reaches the peers that came since', async (t) => {
  // The start-up case: kad-dht's provide succeeds having sent the record to the bootstrap node alone.
  const boot = await startTestNode(t);
  const early = await startTestNode(t, { bootstrap: [dialAddress(boot)] });
  const counted = countedDht(early);
  await waitFor('the bootstrap node in the routing table', () => counted.dht.routingTable.size >= 1);
  const providers = new LogProviders(
    { contentRouting: early.contentRouting, dhts: [counted.dht], peerId: early.peerId },
    { retryDelayMs: 100 },
  );
  providers.start();
  t.teardown(() => providers.stop());
  const logId = logKeyOf(generateNixSecretKey('providers-early')).logId;
  providers.provide(logId);
  await waitFor('the first provide to end', () => counted.reaches.length >= 1);
  t.is(counted.reaches[0], 1, 'the first provide reached the bootstrap node only');
  const later = await Promise.all([0, 1, 2].map(() => startTestNode(t, { bootstrap: [dialAddress(boot)] })));
  await waitFor(
    'a provide that reached the peers that came since',
    () => counted.reaches.some((r) => r >= 3),
    {
      timeout: 60_000,
    },
  );
  t.true(counted.calls() >= 2);
  for (const node of later) t.true(await holdsRecord(node, logId, early), `${node.peerId} holds the record`);
});

test('provide reach: done at k peers; again once the routing table has doubled, or when no peer took it; else wait', (t) => {
  const dht = (size: number): ProvidingDht => ({
    k: 20,
    routingTable: { size },
    provide: () => {
      throw new Error('not provided here');
    },
  });
  t.is(afterProvide([{ reached: 20, table: 40 }], [dht(40)]), 'done');
  t.is(afterProvide([{ reached: 0, table: 0 }], [dht(0)]), 'again', 'no peer took it');
  t.is(afterProvide([{ reached: 3, table: 3 }], [dht(5)]), 'wait', 'the table has not doubled');
  t.is(afterProvide([{ reached: 3, table: 3 }], [dht(6)]), 'again', 'the table has doubled');
  t.is(afterProvide([{ reached: 9, table: 9 }], [dht(9)]), 'wait', 'a network smaller than k, settled');
  t.is(
    afterProvide(
      [
        { reached: 20, table: 50 },
        { reached: 2, table: 4 },
      ],
      [dht(50), dht(8)],
    ),
    'again',
    'one DHT of two short, its table doubled',
  );
  t.is(afterProvide([], []), 'done', 'no DHT: nothing to do');
});

test('gossip: a checkpoint topic message published by one node reaches all others', async (t) => {
  const net = await startTestNetwork(t, 4);
  const all = [net.bootstrap, ...net.nodes];
  await waitForConnections(net.nodes, 2, 60_000);
  await joinTopic(all, CHECKPOINT_TOPIC, 15_000);
  const data = new TextEncoder().encode(`vkey\ncheckpoint ${Date.now()}\n`);
  const [publisher, ...receivers] = all as [(typeof all)[0], ...typeof all];
  const arrivals = receivers.map(
    (node) =>
      new Promise<number>((resolve) => {
        node.services.pubsub.addEventListener('message', (evt) => {
          if (evt.detail.topic === CHECKPOINT_TOPIC && Buffer.from(evt.detail.data).equals(data))
            resolve(performance.now());
        });
      }),
  );
  const msgId = new Promise<string>((resolve) => {
    receivers[0]!.services.pubsub.addEventListener('gossipsub:message', (evt) => resolve(evt.detail.msgId));
  });
  const t0 = performance.now();
  await publisher.services.pubsub.publish(CHECKPOINT_TOPIC, data);
  const times = await Promise.race([
    Promise.all(arrivals),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('not every node got the message in 10 s')), 10_000).unref(),
    ),
  ]);
  t.is(times.length, receivers.length);
  // DESIGN: message ID = SHA-256 of the data (gossipsub shows IDs as unpadded base64).
  const expected = createHash('sha256').update(data).digest('base64').replace(/=+$/, '');
  t.is(await msgId, expected);
  t.log(`gossip to all ${receivers.length} others: ${(Math.max(...times) - t0).toFixed(1)} ms`);
});

test('a bootstrap address with its peer ID twice is refused at start, naming it (no transport dials it)', async (t) => {
  const id = peerIdFromPublicKey((await generateKeyPair('Ed25519')).publicKey).toString();
  await t.throwsAsync(startTestNode(t, { bootstrap: [`/ip4/127.0.0.1/tcp/1/p2p/${id}/p2p/${id}`] }), {
    name: 'MalformedError',
    message: /two \/p2p\/<PeerId> in a row in \/ip4\/127\.0\.0\.1\/tcp\/1\/p2p/,
  });
});

test('a node whose bootstrap peer starts later still connects (re-dial)', async (t) => {
  const port = await freePort();
  const bootstrapKey = await generateKeyPair('Ed25519');
  const bootstrapAddr = `/ip4/127.0.0.1/tcp/${port}/p2p/${peerIdFromPublicKey(bootstrapKey.publicKey)}`;
  const node = await startTestNode(t, { bootstrap: [bootstrapAddr] });
  // Two failed rounds: the first dial and @libp2p/bootstrap's were refused and would never be retried.
  await waitFor('two refused re-dial rounds', () => node.services.redial.rounds >= 2);
  t.is(node.getConnections().length, 0);
  const bootstrap = await startTestNode(t, {
    privateKey: bootstrapKey,
    listen: [`/ip4/127.0.0.1/tcp/${port}`],
  });
  const t0 = performance.now();
  await waitFor('a connection to the late bootstrap node', () => node.getConnections().length > 0);
  t.log(`connected ${(performance.now() - t0).toFixed(0)} ms after the bootstrap node started`);
  t.true(node.getPeers().some((p) => p.equals(bootstrap.peerId)));
});

test('a node that loses its last connection re-dials its bootstrap peer', async (t) => {
  const port = await freePort();
  const bootstrapKey = await generateKeyPair('Ed25519');
  const bootstrapInit = { privateKey: bootstrapKey, listen: [`/ip4/127.0.0.1/tcp/${port}`] };
  const first = await startTestNode(t, bootstrapInit);
  const node = await startTestNode(t, { bootstrap: [dialAddress(first)] });
  await waitForConnections([node], 1);
  const roundsBefore = node.services.redial.rounds;
  await first.stop();
  await waitFor('the connection to close', () => node.getConnections().length === 0);
  const second = await startTestNode(t, bootstrapInit);
  await waitFor('a connection to the restarted bootstrap node', () =>
    node.getPeers().some((p) => p.equals(second.peerId)),
  );
  t.true(node.services.redial.rounds > roundsBefore, 'the re-dialer made the connection');
});

test('a listen address in use gives ListenError naming the address', async (t) => {
  const first = await startTestNode(t);
  const taken = dialAddress(first).replace(/\/p2p\/.*$/, '');
  const err = await t.throwsAsync(createLibp2pNode({ listen: [taken] }), { instanceOf: ListenError });
  t.is(err?.code, 'ERR_LISTEN');
  t.true(err?.message.includes(taken), err?.message);
  t.true(err?.message.includes('EADDRINUSE'), err?.message);
});

test('the datastore lives in the LevelDB: a peer address survives a restart', async (t) => {
  const dir = await temp(t);
  const bootstrap = await startTestNode(t);
  const identity = await loadOrCreatePeerIdentity(dir);
  let db = await openDatabase(join(dir, 'db'));
  const first = await startTestNode(t, {
    db,
    privateKey: identity.privateKey,
    bootstrap: [dialAddress(bootstrap)],
  });
  await waitForConnections([first], 1);
  await waitFor(
    'the bootstrap address in the peer store',
    async () => (await first.peerStore.get(bootstrap.peerId)).addresses.length > 0,
  );
  await first.stop();
  await db.close();

  db = await openDatabase(join(dir, 'db'));
  t.teardown(() => db.close());
  const keys = await db.sublevel(LIBP2P_SUBLEVEL).keys({ limit: 1000 }).all();
  t.true(keys.length > 0, 'libp2p wrote into its sublevel');
  const second = await startTestNode(t, { db, privateKey: identity.privateKey });
  t.true(second.peerId.equals(first.peerId));
  const peer = await second.peerStore.get(bootstrap.peerId);
  t.true(
    peer.addresses.some((a) => a.multiaddr.toString() === dialAddress(bootstrap).replace(/\/p2p\/.*$/, '')),
    'the bootstrap node is known with its address after the restart, with no bootstrap configured',
  );
});

test('a ping still running when the connection monitor pings again does not cost the connection', async (t) => {
  // libp2p's monitor pings each connection once per interval; its ping may outlast the interval (loss,
  // load), and the kad-dht pings too. With ping's default of 1 outbound stream, the next ping failed with
  // TooManyOutboundProtocolStreamsError and the monitor aborted the live connection.
  const a = await startTestNode(t, { pingIntervalMs: 2_000 });
  const b = await startTestNode(t, { bootstrap: [dialAddress(a)] });
  await waitFor('a connection', () => a.getConnections(b.peerId).length > 0);
  const conn = a.getConnections(b.peerId)[0]!;
  // A ping the peer has not answered yet: the stream is open and nothing was written on it.
  const held = await conn.newStream('/ipfs/ping/1.0.0');
  t.teardown(() => held.abort(new Error('test over')));
  conn.rtt = undefined;
  await waitFor(
    'a ping by the monitor beside the running one, or the connection closed',
    () => conn.rtt !== undefined || conn.status !== 'open',
  );
  t.is(conn.status, 'open');
  t.true(held.status === 'open', 'the running ping was not cut either');
});

/** Makes `node` count the pings it receives (and fail them: a counted ping closes the connection). */
async function countPings(node: TrustixLibp2p): Promise<{ count: number }> {
  const pings = { count: 0 };
  await node.unhandle(PING_PROTOCOL);
  await node.handle(
    PING_PROTOCOL,
    (stream) => {
      pings.count++;
      stream.abort(new Error('ping counted'));
    },
    { runOnLimitedConnection: true },
  );
  return pings;
}

test('an idle connection is not pinged every 10 s (libp2p default) but every CONNECTION_PING_INTERVAL_MS', async (t) => {
  t.true(CONNECTION_PING_INTERVAL_MS >= 30_000);
  // A DHT client: the node's kad-dht does not add it to its routing table, so does not ping it as a new contact.
  const peer = await startTestNode(t, { dhtClientMode: true });
  const pings = await countPings(peer);
  const node = await startTestNode(t, { bootstrap: [dialAddress(peer)] });
  await waitForConnections([node], 1);
  // A window longer than libp2p's default interval (10 s) from the node's start: no ping in it now.
  await new Promise((resolve) => setTimeout(resolve, 12_500));
  t.is(pings.count, 0);
});

test('the connection ping interval is the one configured (pingIntervalMs)', async (t) => {
  const peer = await startTestNode(t, { dhtClientMode: true });
  const pings = await countPings(peer);
  const node = await startTestNode(t, { bootstrap: [dialAddress(peer)], pingIntervalMs: 500 });
  await waitForConnections([node], 1);
  await waitFor('a ping from the node', () => pings.count > 0);
  t.pass();
});
