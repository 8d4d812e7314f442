// Hostile builder, issue item 5: a builder that forks its log makes honest peers serving the other branch
// look like liars (their tiles fail against our checkpoint). Bans are now per (peer, log): such a peer
// is left out as a source of that one log and stays connected and usable for every other log; only a
// peer caught on several logs at once is banned whole and refused by the connection gater. Real libp2p
// nodes on 127.0.0.1; before, one bad tile banned the peer whole for an hour.
import { multiaddr } from '@multiformats/multiaddr';
import test from 'ava';
import { PeerBans } from '../../node/network/peer-bans.ts';
import { dialAddress, startTestNode } from '../helpers/p2p.ts';

const FORKED = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);

test('a peer serving the other branch of a forked log is banned for that log only, and stays connected', async (t) => {
  const bans = new PeerBans({ maxLogBans: 3 });
  const hangUps: string[] = [];
  bans.addEventListener('ban', (e) => hangUps.push((e as CustomEvent<{ peer: string }>).detail.peer));
  const victim = await startTestNode(t, { connectionGater: bans.gater() });
  const honest = await startTestNode(t);
  const peer = honest.peerId.toString();

  bans.banForLog(peer, FORKED, 'invalid data for the forked log');
  t.true(bans.isBanned(peer, FORKED));
  t.false(bans.isBanned(peer, OTHER), 'still a source of every other log');
  t.false(bans.isBanned(peer), 'not banned as a whole');
  t.deepEqual(hangUps, [], 'not cut off');
  const connection = await victim.dial(multiaddr(dialAddress(honest)));
  t.is(connection.remotePeer.toString(), peer, 'the gater lets it in');
});

test('a peer caught with bad data for maxLogBans logs at once is banned whole and refused by the gater', async (t) => {
  const bans = new PeerBans({ maxLogBans: 3 });
  const hangUps: string[] = [];
  bans.addEventListener('ban', (e) => hangUps.push((e as CustomEvent<{ peer: string }>).detail.peer));
  const victim = await startTestNode(t, { connectionGater: bans.gater() });
  const liar = await startTestNode(t);
  const peer = liar.peerId.toString();
  bans.banForLog(peer, 'c'.repeat(64), 'invalid');
  bans.banForLog(peer, 'd'.repeat(64), 'invalid');
  t.false(bans.isBanned(peer));
  bans.banForLog(peer, 'e'.repeat(64), 'invalid');
  t.true(bans.isBanned(peer));
  t.true(bans.isBanned(peer, OTHER));
  t.deepEqual(hangUps, [peer]);
  await t.throwsAsync(victim.dial(multiaddr(dialAddress(liar))));
});

test('per-log bans end on time and do not add up across their windows', (t) => {
  let now = 0;
  const bans = new PeerBans({ banMs: 1000, maxLogBans: 2, now: () => now });
  bans.banForLog('p', FORKED, 'x');
  now = 1000;
  t.false(bans.isBanned('p', FORKED), 'over');
  bans.banForLog('p', OTHER, 'x');
  t.false(bans.isBanned('p'), 'one log at a time is never a whole ban');
  t.true(bans.isBanned('p', OTHER));
});
