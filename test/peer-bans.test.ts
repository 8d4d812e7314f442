/** Peer bans: they end on time, the oldest is forgotten beyond the cap, and the gater follows them. */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import test from 'ava';
import { PeerBans } from '../node/network/peer-bans.ts';

async function peer() {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
}

test('a ban lasts banMs, tells its listeners, and the gater refuses dials and inbound connections meanwhile', async (t) => {
  let now = 1_000_000;
  const bans = new PeerBans({ banMs: 60_000, now: () => now });
  const told: unknown[] = [];
  bans.addEventListener('ban', (e) => told.push(e.detail));
  const [liar, honest] = [await peer(), await peer()];
  const gater = bans.gater();
  bans.ban(liar.toString(), 'invalid data for some log');
  t.deepEqual(told, [{ peer: liar.toString(), reason: 'invalid data for some log' }]);
  t.true(bans.isBanned(liar.toString()));
  t.false(bans.isBanned(honest.toString()));
  t.true(await gater.denyDialPeer!(liar));
  t.false(await gater.denyDialPeer!(honest));
  t.true(await gater.denyInboundEncryptedConnection!(liar, {} as never), 'the connection is not looked at');
  now += 59_999;
  t.true(bans.isBanned(liar.toString()));
  now += 1;
  t.false(bans.isBanned(liar.toString()), 'the ban is over');
  t.false(await gater.denyDialPeer!(liar));
});

test('beyond maxBans the oldest ban is forgotten; banning again renews a ban', async (t) => {
  let now = 0;
  const bans = new PeerBans({ banMs: 1000, maxBans: 2, now: () => now });
  bans.ban('a', 'x');
  now = 10;
  bans.ban('b', 'x');
  bans.ban('a', 'again'); // renewed: now the newest
  bans.ban('c', 'x'); // evicts the oldest, b
  t.deepEqual(
    ['a', 'b', 'c'].map((p) => bans.isBanned(p)),
    [true, false, true],
  );
  now = 1005;
  t.true(bans.isBanned('a'), 'renewed at 10, ends at 1010');
});
