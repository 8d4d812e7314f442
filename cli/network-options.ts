/**
 * The network flags `start` and `bootstrap` share: --listen, --announce, --bootstrap.
 */
import type { Argv } from 'yargs';
import { defaultBootstrapPeers } from '../bootstrap/peers.ts';
import { DEFAULT_LISTEN, type Libp2pNodeInit, parseMultiaddr } from '../node/index.ts';
import { UsageError } from './exit-code.ts';
import type { GlobalOptions } from './global-options.ts';

export interface NetworkArgs extends GlobalOptions {
  readonly listen?: string[];
  readonly announce?: string[];
  readonly bootstrap?: string[];
}

export function networkOptions<T extends GlobalOptions>(yargs: Argv<T>) {
  return yargs
    .option('listen', {
      type: 'string',
      array: true,
      describe: `libp2p listen multiaddrs (default ${DEFAULT_LISTEN.join(' ')})`,
    })
    .option('announce', {
      type: 'string',
      array: true,
      describe: 'Multiaddrs to announce instead (public address behind NAT)',
    })
    .option('bootstrap', {
      type: 'string',
      array: true,
      describe: 'Bootstrap peers, multiaddrs ending in /p2p/<PeerId>',
    });
}

function addrs(list: readonly string[] | undefined, flag: string, needPeer = false): string[] | undefined {
  if (list === undefined) return undefined;
  return list.map((a) => {
    try {
      return parseMultiaddr(a, needPeer);
    } catch (err) {
      throw new UsageError(`${flag} ${a}: not a usable multiaddr (${(err as Error).message})`);
    }
  });
}

/** libp2p settings from the flags (defaults where a flag is absent). */
export function networkInit(argv: NetworkArgs): Omit<Libp2pNodeInit, 'db' | 'privateKey' | 'start'> {
  const listen = addrs(argv.listen, '--listen');
  const announce = addrs(argv.announce, '--announce');
  const bootstrap = addrs(argv.bootstrap, '--bootstrap', true) ?? [...defaultBootstrapPeers()];
  return { ...(listen ? { listen } : {}), ...(announce ? { announce } : {}), bootstrap };
}
