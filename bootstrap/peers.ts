import { isLocalOnly } from '../node/index.ts';

/**
 * The default bootstrap peers a node dials when its configuration names none: the public libp2p
 * bootstrap peers of the Amino DHT (`/ipfs/kad/1.0.0`), which every IPFS node also starts from. Trustix
 * runs no server of its own: through them a node joins the public DHT as a client and meets other
 * Trustix nodes at the rendezvous CID (docs/PROTOCOL.md, "Rendezvous"). They store provider records
 * only; Trustix data never goes there. Public `trustix bootstrap` nodes, when someone runs them, are
 * added with --bootstrap or the config file's "bootstrap" (which replace this list).
 *
 * Never dialled under TRUSTIX_LOCAL_ONLY (tests, benchmarks, the demo, CI): see defaultBootstrapPeers.
 */
export const DEFAULT_BOOTSTRAP_PEERS: readonly string[] = [
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt',
  '/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ',
];

/** The peers a node dials when none are configured: none at all under TRUSTIX_LOCAL_ONLY. */
export function defaultBootstrapPeers(
  env: Readonly<Record<string, string | undefined>> = process.env,
): readonly string[] {
  return isLocalOnly(env) ? [] : DEFAULT_BOOTSTRAP_PEERS;
}
