/**
 * What the lookup client (node/network/lookup-client.ts) is given and its settings with their defaults:
 * apart from the client so that its parts (candidates, connections, exchange, fan-out) read the same
 * settings without importing the client.
 */
import type { Libp2p, PeerId } from '@libp2p/interface';
import { LOOKUP_PARALLEL, LOOKUP_TIMEOUT_MS } from '../../protocol/constants.ts';
import type { PeerBans } from './peer-bans.ts';

export interface LookupClientComponents {
  /** Opens connections: the libp2p node. */
  readonly dialer: Pick<Libp2p, 'dial'>;
  /** The log's DHT providers, kept and refreshed (node/network/provider-list.ts). */
  readonly providers: { findProviders(logId: string): Promise<PeerId[]> };
  /** Connected peers that speak the lookup protocol: asked last (a peer without the log says so). */
  connectedPeers?(): PeerId[];
  readonly peerId: PeerId;
  readonly bans: PeerBans;
}

export interface LookupClientInit {
  /** Time for one exchange with one provider (dial to closed stream), in ms. Default LOOKUP_TIMEOUT_MS (10,000). */
  readonly timeoutMs?: number;
  /** Providers asked at once, at most. Default LOOKUP_PARALLEL (2). */
  readonly parallel?: number;
  /**
   * Least time the first provider asked has to answer before a second is asked too, in ms, and the time
   * a provider not timed yet gets. Default 40 (a few round trips on a LAN; an answer of "none" or a
   * failure asks the second at once).
   */
  readonly hedgeMs?: number;
  /**
   * A provider timed before gets this many times its smoothed answer time (node/network/answer-times.ts),
   * if longer than `hedgeMs`: across the Internet its answers take round trips, and a fixed 40 ms asked a
   * second provider for every path. Default 2.
   */
  readonly hedgeFactor?: number;
  /** Providers tried for one lookup, at most. Default 8. */
  readonly maxTried?: number;
  /**
   * Lookups in flight to one peer; more wait their turn. Default 8, well below the server's default cap on
   * inbound streams per connection (LOOKUP_MAX_STREAMS, 32), which libp2p enforces by resetting.
   */
  readonly maxPerPeer?: number;
  /** Pause before the providers that answered busy are asked once more, in ms. Default 250. */
  readonly busyBackoffMs?: number;
  /** How long a peer that said it does not hold a log is passed over for it, in ms. Default 30,000. */
  readonly notHeldMs?: number;
  /** Hinted peers remembered per log. Default 8. */
  readonly maxHints?: number;
  /** Bytes of verified answers cached. Default 8 MiB. */
  readonly cacheBytes?: number;
  /** The Nix store directory of the entries. Default '/nix/store'. */
  readonly storeDir?: string;
}

/** The settings a LookupClientInit leaves out. */
export const LOOKUP_CLIENT_DEFAULTS: Required<LookupClientInit> = {
  timeoutMs: LOOKUP_TIMEOUT_MS,
  parallel: LOOKUP_PARALLEL,
  hedgeMs: 40,
  hedgeFactor: 2,
  maxTried: 8,
  maxPerPeer: 8,
  maxHints: 8,
  notHeldMs: 30_000,
  busyBackoffMs: 250,
  cacheBytes: 8 * 1024 * 1024,
  storeDir: '/nix/store',
};
