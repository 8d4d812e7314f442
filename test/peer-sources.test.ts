/**
 * The sources a sync is given (node/network/peer-sources.ts): the gossip sender, then at most half the
 * places for the peers of the last sync, then DHT providers, so that the last sync's sources (often the
 * builder) are not every sync's. Sources are only named here: nothing is dialled.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import test from 'ava';
import { PeerBans } from '../node/network/peer-bans.ts';
import { PeerSources } from '../node/network/peer-sources.ts';

const LOG = 'c'.repeat(64);

async function peers(n: number): Promise<PeerId[]> {
  return Promise.all(
    Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
  );
}

async function sources(providers: PeerId[]) {
  const [self] = await peers(1);
  return new PeerSources({
    dialer: { dial: () => Promise.reject(new Error('not dialled in this test')) },
    providers: { findProviders: async () => providers },
    peerId: self!,
    bans: new PeerBans(),
  });
}

test('the last sync’s peers take at most half the places; DHT providers take the rest', async (t) => {
  const [hint, ...rest] = await peers(17);
  const served = rest.slice(0, 8).map(String);
  const providers = rest.slice(8);
  const s = await sources(providers);
  for (const id of served) s.source(id);
  s.servedBy(LOG, served);
  const ids = (await s.sourcesFor(LOG, hint!.toString())).map((x) => x.id);
  t.is(ids.length, 8);
  t.deepEqual(ids.slice(0, 5), [hint!.toString(), ...served.slice(0, 4)]);
  const fromDht = ids.slice(5);
  t.true(
    fromDht.every((id) => providers.some((p) => p.toString() === id)),
    'the other three places go to providers',
  );
});

test('with no other provider, the rest of the last sync’s peers fill the places', async (t) => {
  const [hint, ...served] = (await peers(9)).map(String);
  const s = await sources([]);
  for (const id of served) s.source(id);
  s.servedBy(LOG, served);
  const ids = (await s.sourcesFor(LOG, hint)).map((x) => x.id);
  t.deepEqual(ids, [hint!, ...served.slice(0, 7)]);
});
