/**
 * How far a provider record reached. kad-dht's provide walks to the k peers closest to the key that it
 * can find and sends each the record; it succeeds whatever it found. A node that provides at start-up,
 * while its routing table holds a bootstrap peer or three, leaves its record on those few only, and the
 * key's true closest peers, which every lookup walks to, never hear of it until the next reprovide,
 * hours later (at N = 50, docs/SCALE.md, a third of the followers found no provider of a new log
 * within 60 s). So the peers that took the record are counted, with the routing table's size when the
 * provide started, and a record that reached fewer than k peers is provided again once the table has
 * doubled (`afterProvide`), by log-providers.ts and rendezvous.ts alike.
 */
import type { AbortOptions } from '@libp2p/interface';
import type { SingleKadDHT } from '@libp2p/kad-dht';
import { logger } from '@libp2p/logger';
import type { CID } from 'multiformats/cid';

const log = logger('trustix:provide');

/** A DHT our records go to: kad-dht's (Trustix's own, and the public one when joined). */
export type ProvidingDht = Pick<SingleKadDHT, 'provide' | 'k' | 'routingTable'>;

/** How far one provide went on one DHT. */
export interface Reach {
  /** Peers that took the record. */
  readonly reached: number;
  /** Peers in the DHT's routing table when the provide started. */
  readonly table: number;
}

/**
 * Provides `key` on every DHT at once; resolves with how far it went on each, in order. A DHT whose
 * provide failed (timed out, say) reached 0: never rejects.
 */
export function provideOn(dhts: readonly ProvidingDht[], key: CID, options: AbortOptions): Promise<Reach[]> {
  return Promise.all(
    dhts.map(async (dht) => {
      const table = dht.routingTable.size;
      let reached = 0;
      try {
        for await (const event of dht.provide(key, options))
          if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') reached++;
      } catch (err) {
        log('providing %s: %s', key, err);
      }
      return { reached, table };
    }),
  );
}

/**
 * What a record that went as far as `reach` (per DHT, as `dhts`) calls for now: 'done' when every DHT
 * gave it to k peers (the next provide is the scheduled reprovide); 'again' when some DHT gave it to no
 * peer, or to fewer than k while its routing table has since doubled (the key's closest peers may be
 * others now); else 'wait' (ask again later). A network smaller than k stops doubling its nodes' tables
 * once they hold it all, so its records settle after a few provides.
 */
export function afterProvide(
  reach: readonly Reach[],
  dhts: readonly ProvidingDht[],
): 'done' | 'again' | 'wait' {
  if (reach.every((r, i) => r.reached >= dhts[i]!.k)) return 'done';
  const grown = reach.some(
    (r, i) =>
      r.reached === 0 || (r.reached < dhts[i]!.k && dhts[i]!.routingTable.size >= 2 * Math.max(1, r.table)),
  );
  return grown ? 'again' : 'wait';
}
