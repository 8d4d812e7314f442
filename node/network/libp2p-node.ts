/**
 * The libp2p node of Trustix, assembled as docs/PROTOCOL.md "Network" says: TCP, Noise, Yamux, identify,
 * ping, a private kad-dht on `/trustix/kad/1.0.0`, gossipsub (message ID = SHA-256 of the data),
 * bootstrap with a re-dial loop, connection limits, and a datastore in the node's own LevelDB.
 *
 * This module only builds the node. Topics, validators, protocol handlers and DHT records belong to
 * the modules that own them (gossip, tile exchange, providers), which use the services here. The parts
 * are configured by their own modules (transports.ts, peer-discovery.ts, dhts.ts, gossip-router.ts,
 * nat-services.ts) from the options of libp2p-node-init.ts; this one puts them together and starts it.
 *
 * Several libp2p defaults fail silently on loopback and LANs; the defaults below and in those modules
 * are chosen against each of them and documented where they are set.
 */
import '../runtime/promise-with-resolvers.ts';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { ping } from '@libp2p/ping';
import { prometheusMetrics } from '@libp2p/prometheus-metrics';
import type { Level } from 'level';
import { createLibp2p } from 'libp2p';
import {
  MAX_PROVIDER_RECORDS_PER_PEER,
  PING_MAX_STREAMS,
  PUBLIC_DHT_DATASTORE_PREFIX,
} from '../../protocol/constants.ts';
import { TrustixError } from '../../protocol/errors.ts';
import type { Database } from '../store/database.ts';
import { bootstrapRedialer } from './bootstrap-redialer.ts';
import { aminoDht, trustixDht } from './dhts.ts';
import { gossipRouter } from './gossip-router.ts';
import {
  CONNECTION_PING_INTERVAL_MS,
  DEFAULT_LISTEN,
  DEFAULT_MAX_CONNECTIONS,
  type Libp2pNodeInit,
} from './libp2p-node-init.ts';
import type { TrustixLibp2p, TrustixServices } from './libp2p-services.ts';
import { isLocalOnly, localOnlyGater } from './local-only.ts';
import { natServices } from './nat-services.ts';
import { peerDiscovery } from './peer-discovery.ts';
import { PeerRecordBufferedDatastore } from './peer-record-buffer.ts';
import type { ProviderCapInit } from './provider-cap.ts';
import { transports } from './transports.ts';

/** Name of the LevelDB sublevel that holds libp2p's datastore (keys `!libp2p!...`). */
export const LIBP2P_SUBLEVEL = 'libp2p';

/** A listen address could not be bound (typically: the port is in use by another node). */
export class ListenError extends TrustixError {
  constructor(detail: string, options?: ErrorOptions) {
    super('ERR_LISTEN', `cannot listen on ${detail}; choose another address with --listen`, options);
  }
}

/**
 * @libp2p/prometheus-metrics keeps one name-to-metric map per process and clears it when a node is
 * created: a node that registers a name after another node was created gets that node's metric, in the
 * other registry. libp2p's components register theirs when constructed and started, so nodes with
 * metrics are created and started one at a time (a node made with `start: false` is not covered).
 */
let metricsTurn: Promise<unknown> = Promise.resolve();

/** Builds (and by default starts) the libp2p node. */
export async function createLibp2pNode(init: Libp2pNodeInit = {}): Promise<TrustixLibp2p> {
  if (init.metrics === undefined) return buildLibp2pNode(init);
  const built = metricsTurn.then(() => buildLibp2pNode(init));
  metricsTurn = built.catch(() => {});
  return built;
}

async function buildLibp2pNode(init: Libp2pNodeInit): Promise<TrustixLibp2p> {
  const bootstrapList = [...(init.bootstrap ?? [])];
  const datastore =
    init.db === undefined
      ? undefined
      : await openDatastore(init.db, {
          // kad-dht's datastore prefixes: the private DHT's default, and the public one's below.
          prefixes: ['/dht', PUBLIC_DHT_DATASTORE_PREFIX],
          maxPerPeer: init.maxProviderRecordsPerPeer ?? MAX_PROVIDER_RECORDS_PER_PEER,
          ...(init.privateKey !== undefined && { self: peerIdFromPrivateKey(init.privateKey).toString() }),
        });
  const localOnly = init.localOnly ?? isLocalOnly();
  // Under localOnly nothing reaches beyond the given addresses unless a caller turns it on explicitly.
  const discovery = peerDiscovery(bootstrapList, init.mdns ?? !localOnly);
  const relay = init.relayServer === true ? {} : init.relayServer || undefined;
  const webrtc = init.webrtc === true ? {} : init.webrtc || undefined;
  const stunInit = init.stunResponder ?? relay !== undefined;
  const stunService = stunInit === true ? {} : stunInit || undefined;
  const listen = [...(init.listen ?? DEFAULT_LISTEN)];
  let self: TrustixLibp2p | undefined;
  const nodeTransports = await transports(webrtc, bootstrapList, localOnly, () => self);
  const node = await createLibp2p<TrustixServices>({
    start: false,
    // libp2p's process figures (CPU, heap...) are node/routes/metrics.ts's, collected once per process.
    ...(init.metrics && { metrics: prometheusMetrics({ ...init.metrics, collectDefaultMetrics: false }) }),
    ...(init.privateKey === undefined ? {} : { privateKey: init.privateKey }),
    ...(datastore === undefined ? {} : { datastore }),
    ...(init.userAgent === undefined ? {} : { nodeInfo: { userAgent: init.userAgent } }),
    addresses: {
      listen: [
        ...listen,
        ...Array.from({ length: init.relayReservations ?? 0 }, () => '/p2p-circuit'),
        ...(webrtc ? ['/webrtc'] : []),
      ],
      announce: [...(init.announce ?? [])],
    },
    transports: nodeTransports,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { pingInterval: init.pingIntervalMs ?? CONNECTION_PING_INTERVAL_MS },
    connectionManager: {
      maxConnections: init.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      allow: [...(init.allowList ?? [])],
    },
    ...(localOnly
      ? { connectionGater: localOnlyGater(init.connectionGater) }
      : init.connectionGater && { connectionGater: init.connectionGater }),
    peerDiscovery: discovery,
    services: {
      identify: identify(),
      // kad-dht requires the ping service under this name.
      ping: ping({ maxOutboundStreams: PING_MAX_STREAMS, maxInboundStreams: PING_MAX_STREAMS }),
      dht: trustixDht(init, () => self?.getMultiaddrs() ?? []),
      ...(init.publicDht && { amino: aminoDht(init.publicDht) }),
      pubsub: gossipRouter(init),
      redial: bootstrapRedialer({ list: bootstrapList, ...init.redial }),
      ...(datastore && {
        peerRecords: () => ({ start() {}, stop() {}, afterStop: () => datastore.flush() }),
      }),
      ...natServices({
        upnp: init.upnp ?? !localOnly,
        webrtc: webrtc !== undefined,
        stun: stunService,
        listen,
        relay,
      }),
    },
  });
  self = node;
  if (init.start ?? true) await startLibp2pNode(node);
  return node;
}

/**
 * Starts a node made with `start: false`. A listen address that cannot be bound (in use, not local)
 * gives ListenError; libp2p has stopped whatever it had started by then.
 */
export async function startLibp2pNode(node: TrustixLibp2p): Promise<void> {
  try {
    await node.start();
  } catch (err) {
    if ((err as Error).name === 'UnsupportedListenAddressesError') {
      const reasons = [...(err as Error).message.matchAll(/^\s*(\/\S+): (?:\w*Error: )?(.*)$/gm)].map(
        (m) => `${m[1]} (${m[2]})`,
      );
      throw new ListenError(reasons.length > 0 ? reasons.join(', ') : (err as Error).message, { cause: err });
    }
    throw err;
  }
}

/**
 * libp2p's datastore over a sublevel of the node's LevelDB. datastore-level accepts any Level-shaped
 * database; a sublevel is one (same get/put/batch/iterator API, keys prefixed `!libp2p!`), though
 * its TypeScript type is AbstractSublevel rather than Level. libp2p does not open the datastore.
 */
async function openDatastore(db: Database, cap: ProviderCapInit): Promise<PeerRecordBufferedDatastore> {
  const sublevel = db.sublevel<string, Uint8Array>(LIBP2P_SUBLEVEL, {
    keyEncoding: 'utf8',
    valueEncoding: 'view',
  });
  const datastore = new PeerRecordBufferedDatastore(sublevel as unknown as Level<string, Uint8Array>, cap);
  await datastore.open();
  return datastore;
}
