/**
 * `trustix start`: run the node until SIGINT or SIGTERM. On a fresh machine it first creates the data
 * directory and keys, so it does something useful with no setup.
 */
import { fileURLToPath } from 'node:url';
import type { Argv, CommandModule } from 'yargs';
import { dataDir, initDataDir } from '../../node/data-dir.ts';
import { DEFAULT_HTTP_PORT, TrustixNode } from '../../node/trustix-node.ts';
import { formatNixPublicKey } from '../../protocol/keys.ts';
import { dataDirOf, type GlobalOptions } from '../global-options.ts';
import { parseHttpAddress } from '../http-address.ts';
import { type NetworkArgs, networkInit, networkOptions } from '../network-options.ts';
import { print } from '../output.ts';
import { untilSignal } from '../until-signal.ts';

interface StartArgs extends NetworkArgs {
  readonly http?: string;
  readonly 'batch-interval'?: number;
}

const HOOK = fileURLToPath(new URL('../bin/trustix-post-build-hook.js', import.meta.url));

export const startCommand: CommandModule<GlobalOptions, StartArgs> = {
  command: 'start',
  describe: 'Run the node: sequencer, submission socket and HTTP server (until Ctrl-C)',
  builder: (yargs: Argv<GlobalOptions>) =>
    networkOptions(yargs)
      .option('http', {
        type: 'string',
        describe: `HTTP address HOST:PORT (default 127.0.0.1:${DEFAULT_HTTP_PORT})`,
      })
      .option('batch-interval', {
        type: 'number',
        describe: 'Longest a submission waits for its batch, in ms (default 500)',
      }),
  handler: async (argv) => {
    const dir = dataDirOf(argv);
    const init = await initDataDir(dir);
    const node = new TrustixNode({
      dataDir: dir,
      p2p: networkInit(argv),
      ...(argv.http !== undefined ? { http: parseHttpAddress(argv.http) } : {}),
      ...(argv['batch-interval'] !== undefined ? { sequencer: { intervalMs: argv['batch-interval'] } } : {}),
    });
    await node.start();
    const { host, port } = node.httpAddress();
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const info = {
      dataDir: dir,
      created: init.created,
      logId: node.keys.log.logId,
      vkey: node.keys.log.vkey,
      logPublicKey: formatNixPublicKey(node.keys.log),
      http: url,
      checkpoint: `${url}/logs/${node.keys.log.logId}/checkpoint`,
      socket: dataDir(dir).socket,
      peerId: node.libp2p?.peerId.toString(),
      listen: node.libp2p?.getMultiaddrs().map(String) ?? [],
      postBuildHook: HOOK,
    };
    print(argv, info, (i) =>
      [
        `${i.created ? 'Created' : 'Using'} ${i.dataDir}`,
        `log ${i.logId}`,
        `  vkey ${i.vkey}`,
        `  checkpoint ${i.checkpoint}`,
        `submission socket ${i.socket}`,
        `peer ${i.peerId}`,
        ...i.listen.map((a) => `  listening on ${a}`),
        '',
        'To publish every build, add to nix.conf:',
        `  post-build-hook = ${i.postBuildHook}`,
        dir === dataDirOf({ json: false }) ? '' : `  (and run Nix with TRUSTIX_DATA_DIR=${i.dataDir})`,
        'Press Ctrl-C to stop.',
      ]
        .filter((l, n, all) => l !== '' || all[n - 1] !== '')
        .join('\n'),
    );
    await untilSignal(node);
  },
};
