/**
 * A peer's dialable multiaddr (a bootstrap peer's, `--bootstrap`, the config's `bootstrap`): it must end in
 * exactly one `/p2p/<PeerId>`. Twice the same ID (`…/tcp/8566/p2p/12D3…/p2p/12D3…`, what appending the ID to
 * an address libp2p printed with it gives) passes @libp2p/bootstrap, which strips the last one, but no
 * transport dials it: the bootstrap re-dialer then failed every round with "no valid addresses", and a
 * node whose first dials were refused stayed isolated. Relayed addresses (`/p2p/R/p2p-circuit/p2p/T`) have
 * two IDs, not side by side, and pass.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import { MalformedError } from '../../protocol/errors.ts';

/** Throws MalformedError unless `m` ends in one `/p2p/<PeerId>` not directly after another. */
export function checkPeerMultiaddr(m: Multiaddr): void {
  const components = m.getComponents();
  if (components.at(-1)?.name !== 'p2p')
    throw new MalformedError('peer multiaddr', `no /p2p/<PeerId> at the end of ${m.toString()}`);
  if (components.at(-2)?.name === 'p2p')
    throw new MalformedError('peer multiaddr', `two /p2p/<PeerId> in a row in ${m.toString()}: give one`);
}
