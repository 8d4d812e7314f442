import { isLocalOnly } from '../node/network/local-only.ts';

/**
 * The default bootstrap peers a node dials when its configuration names none: public, long-lived
 * Trustix bootstrap nodes (`trustix bootstrap`), as multiaddrs ending in `/p2p/<PeerId>`.
 *
 * Empty until real public nodes exist: a node then needs `--bootstrap` (or a peer in its config).
 * Adding a node here is a release decision: it must run `trustix bootstrap` with a stable identity and
 * a public address, as docs/guides/bootstrap.md describes.
 */
export const DEFAULT_BOOTSTRAP_PEERS: readonly string[] = [];

/** The peers a node dials when none are configured: none at all under TRUSTIX_LOCAL_ONLY. */
export function defaultBootstrapPeers(
  env: Readonly<Record<string, string | undefined>> = process.env,
): readonly string[] {
  return isLocalOnly(env) ? [] : DEFAULT_BOOTSTRAP_PEERS;
}
