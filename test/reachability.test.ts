/**
 * What `trustix peers` and `trustix start` say about where a node stands (node/network/reachability.ts),
 * with real libp2p nodes on loopback: isolated with no connection, then private with a LAN connection.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { multiaddr } from '@multiformats/multiaddr';
import test from 'ava';
import { connectionKind, reachabilityOf } from '../node/network/reachability.ts';
import { dialAddress, startTestNode, waitFor } from './helpers/p2p.ts';

test('a node with no connection is isolated; connected over loopback it is private with a LAN peer', async (t) => {
  const a = await startTestNode(t);
  const b = await startTestNode(t);
  t.like(reachabilityOf(a), { state: 'isolated', relays: 0, summary: 'isolated: no connections' });
  await a.dial(multiaddr(dialAddress(b)));
  await waitFor('connected', () => a.getConnections().length > 0);
  const r = reachabilityOf(a);
  t.is(r.state, 'private');
  t.deepEqual(r.connections, { direct: 0, relayed: 0, lan: 1 });
  t.is(r.summary, 'private via 0 relays; connections: 0 direct, 0 relayed, 1 LAN');
});

test('relays are counted by PeerId, however many of their addresses we announce', (t) => {
  const relay = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq';
  const self = '12D3KooWKgJZQAFRZCMW5WSqpQUu4co7852WnAV3hpTzSiknbH6n';
  const own = [
    `/ip4/10.50.0.2/tcp/4001/p2p/${relay}/p2p-circuit/p2p/${self}`,
    `/ip4/127.0.0.1/tcp/4001/p2p/${relay}/p2p-circuit/p2p/${self}`,
    '/ip4/192.168.11.2/tcp/4001',
  ].map((a) => multiaddr(a));
  const r = reachabilityOf({ getMultiaddrs: () => own, getConnections: () => [] });
  t.is(r.relays, 1);
});

test('connection kinds: relayed by /p2p-circuit, WebRTC direct, LAN by a private address, else direct', (t) => {
  const peer = '/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq';
  const kind = (a: string) => connectionKind({ remoteAddr: multiaddr(a) });
  t.is(kind(`/ip4/10.50.0.2/tcp/4001${peer}/p2p-circuit${peer}`), 'relayed');
  // Signalled through the relay, but the data flows peer to peer (docs/PROTOCOL.md).
  t.is(kind(`/ip4/10.50.0.2/tcp/4001${peer}/p2p-circuit/webrtc${peer}`), 'direct');
  t.is(kind('/ip4/192.168.1.5/tcp/4001'), 'lan');
  t.is(kind('/ip4/127.0.0.1/tcp/4001'), 'lan');
  t.is(kind('/ip4/8.8.8.8/tcp/4001'), 'direct');
});
