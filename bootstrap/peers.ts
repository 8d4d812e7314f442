/**
 * The default bootstrap peers a node dials when its configuration names none: public, long-lived
 * Trustix bootstrap nodes (`trustix bootstrap`), as multiaddrs ending in `/p2p/<PeerId>`.
 *
 * Empty until real public nodes exist: a node then needs `--bootstrap` (or a peer in its config).
 * Adding a node here is a release decision: it must run `trustix bootstrap` with a stable identity and
 * a public address, as docs/guides/bootstrap.md describes.
 */
export const DEFAULT_BOOTSTRAP_PEERS: readonly string[] = [];
