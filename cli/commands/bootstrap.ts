/**
 * `trustix bootstrap`: a long-lived public node with no log of its own: a DHT server, gossip relay
 * (it validates what it relays), circuit relay and STUN server for nodes behind NAT, with more connections than a
 * user node and gossip peer exchange on, and a stable identity (peer.secret in its data directory). Runs until SIGINT or SIGTERM
 * (the run's signal).
 */
import { mkdir } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { bootstrapNodeInit } from '../../bootstrap/bootstrap-node.ts';
import { parseHttpAddress, TrustixNode } from '../../node/index.ts';
import { UsageError } from '../exit-code.ts';
import { dataDirOf, type GlobalOptions } from '../global-options.ts';
import { type NetworkArgs, networkInit, networkOptions } from '../network-options.ts';
import { print } from '../output.ts';
import { untilSignal } from '../until-signal.ts';

function httpAddress(text: string): { host: string; port: number } {
  try {
    return parseHttpAddress(text);
  } catch (err) {
    throw new UsageError(`--http ${text}: ${(err as Error).message}`);
  }
}

function stunPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new UsageError(`--stun-port ${port}: expected a port number from 1 to 65535`);
  return port;
}

interface BootstrapArgs extends NetworkArgs {
  readonly 'max-connections': number;
  readonly http?: string;
  readonly stun: boolean;
  readonly 'stun-port'?: number;
}

export const bootstrapCommand: CommandModule<GlobalOptions, BootstrapArgs> = {
  command: 'bootstrap',
  describe: 'Run a bootstrap node: DHT server, gossip and circuit relay, no log of its own',
  builder: (yargs: Argv<GlobalOptions>) =>
    networkOptions(yargs)
      .option('max-connections', {
        type: 'number',
        default: 1000,
        describe: 'Connections kept before pruning',
      })
      .option('http', {
        type: 'string',
        describe: 'Serve /metrics (Prometheus) on HOST:PORT, e.g. 127.0.0.1:8565 (default: no HTTP)',
      })
      .option('stun', {
        type: 'boolean',
        default: true,
        describe: 'Answer STUN on UDP for nodes behind NAT (--no-stun: not)',
      })
      .option('stun-port', {
        type: 'number',
        describe: 'UDP port to answer STUN on (default: each TCP listen port)',
      }),
  handler: async (argv) => {
    const dir = dataDirOf(argv);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const node = new TrustixNode(
      bootstrapNodeInit(networkInit(argv), {
        dataDir: dir,
        maxConnections: argv['max-connections'],
        stun: argv.stun && (argv['stun-port'] === undefined ? true : stunPort(argv['stun-port'])),
        ...(argv.http !== undefined && { http: httpAddress(argv.http) }),
      }),
    );
    await node.start();
    // Before anything is printed: a signal sent as soon as the output appears must find the handler.
    const stopped = untilSignal(node, argv.io);
    const libp2p = node.libp2p!;
    const addresses = libp2p.getMultiaddrs().map(String);
    const http = argv.http === undefined ? undefined : node.httpAddress();
    const metrics =
      http === undefined
        ? null
        : `http://${http.host.includes(':') ? `[${http.host}]` : http.host}:${http.port}/metrics`;
    print(argv, { peerId: libp2p.peerId.toString(), addresses, metrics }, (i) =>
      [
        `bootstrap node ${i.peerId}`,
        ...i.addresses.map((a) => `  ${a}`),
        ...(i.metrics ? [`metrics ${i.metrics}`] : []),
        'Give users one of these addresses for --bootstrap. Press Ctrl-C to stop.',
      ].join('\n'),
    );
    await stopped;
  },
};
