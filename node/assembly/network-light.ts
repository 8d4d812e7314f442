/**
 * The light half of a node's network side (node/assembly/network-side.ts): the lookup server answering light nodes
 * about every log held here in full, the lookup client asking peers about logs followed light, and the
 * light logs with their consistency checks. Its own module because this is how a node serves, and
 * follows, logs it does not mirror.
 */
import type { PeerId } from '@libp2p/interface';
import type { TrustixLibp2p } from '../network/libp2p-services.ts';
import { LightLogs } from '../network/light-logs.ts';
import { LookupClient } from '../network/lookup-client.ts';
import { lookupService as createLookupService, type LookupService } from '../network/lookup-service.ts';
import type { NetworkFollower } from './network-follower.ts';
import type { NetworkHost } from './network-host.ts';
import type { NetworkSideComponents, NetworkSideInit } from './network-side-init.ts';
import type { StartedParts } from './started-parts.ts';

export interface NetworkLight {
  readonly lookupService: LookupService;
  readonly lookups: LookupClient;
  /** The logs followed light, and their lookups. */
  readonly light: LightLogs;
}

/** Starts the lookup server and the light logs, in that order, into `parts`. */
export async function startNetworkLight(
  c: NetworkSideComponents,
  init: NetworkSideInit,
  parts: StartedParts,
  host: NetworkHost,
  fetching: NetworkFollower,
): Promise<NetworkLight> {
  const { monitor, followed, own } = c;
  const { libp2p, bans } = host;
  const { providerList, sources, blame, follower } = fetching;
  // Every log held in full is answered about to light nodes: our own, and the full followed ones.
  const lookupService = createLookupService(init.lookupService)({
    registrar: libp2p,
    held: (id) => (own !== undefined && id === own.store.logId ? own.store : follower.get(id)),
  });
  await lookupService.start();
  parts.add(() => lookupService.stop());
  const lookups = new LookupClient(
    {
      dialer: libp2p,
      providers: providerList,
      peerId: libp2p.peerId,
      bans,
      connectedPeers: () => lookupPeers(libp2p),
    },
    { storeDir: init.storeDir ?? '/nix/store', ...init.lookups },
  );
  const light = new LightLogs(
    {
      followed,
      monitor,
      lookups,
      sourcesFor: (id, hint) => sources.sourcesFor(id, hint),
      onSourceFailed: (f) => void blame.judge(f),
    },
    init.light,
  );
  await light.start();
  parts.add(() => light.stop());
  return { lookupService, lookups, light };
}

/** Connected peers, at most 16: asked last (one without the log says so and is passed over a while). */
function lookupPeers(libp2p: TrustixLibp2p): PeerId[] {
  const out: PeerId[] = [];
  for (const c of libp2p.getConnections()) {
    if (out.length >= 16) break;
    if (out.some((p) => p.equals(c.remotePeer))) continue;
    out.push(c.remotePeer);
  }
  return out;
}
