/**
 * `trustix start`: run the node until SIGINT or SIGTERM. On a fresh machine it first creates the data
 * directory and keys, so it does something useful with no setup.
 */
import { fileURLToPath } from 'node:url';
import type { Argv, CommandModule } from 'yargs';
import { openBinaryCache } from '../../node/binary-cache.ts';
import { loadConfig } from '../../node/config.ts';
import { dataDir, initDataDir } from '../../node/data-dir.ts';
import { parseDeciderSpec } from '../../node/decider.ts';
import { DEFAULT_HTTP_PORT, TrustixNode } from '../../node/trustix-node.ts';
import { formatNixPublicKey } from '../../protocol/keys.ts';
import { UsageError } from '../exit-code.ts';
import { configFileOf, dataDirOf, type GlobalOptions } from '../global-options.ts';
import { parseHttpAddress } from '../http-address.ts';
import { type NetworkArgs, networkInit, networkOptions } from '../network-options.ts';
import { print } from '../output.ts';
import { untilSignal } from '../until-signal.ts';

interface StartArgs extends NetworkArgs {
  readonly http?: string;
  readonly 'batch-interval'?: number;
  readonly upstream?: string[];
  readonly vote?: string[];
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
      })
      .option('upstream', {
        type: 'string',
        array: true,
        describe: 'Binary caches the substituter takes narinfos and NARs from (overrides "upstreams")',
      })
      .option('vote', {
        type: 'string',
        array: true,
        describe: 'Deciders in order, e.g. "threshold 3/4" "trust NAME" (overrides "vote")',
      }),
  handler: async (argv) => {
    const dir = dataDirOf(argv);
    const { file, required } = configFileOf(argv);
    const config = await loadConfig(file, required);
    const vote = argv.vote?.map(usage(parseDeciderSpec)) ?? config.vote;
    const upstreams = argv.upstream?.map(usage((u) => openBinaryCache(u).url)) ?? config.upstreams;
    const init = await initDataDir(dir);
    const node = new TrustixNode({
      dataDir: dir,
      p2p: networkInit(argv),
      ...(vote !== undefined ? { vote, voteBaseDir: process.cwd() } : {}),
      ...(upstreams !== undefined ? { upstreams } : {}),
      ...(config.substituter !== undefined ? { substituter: config.substituter } : {}),
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
      config: config.file ?? null,
      upstreams: upstreams ?? [],
      substituter: url,
      cachePublicKey: formatNixPublicKey(node.keys.cacheSecret),
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
        `substituter ${i.substituter}${i.upstreams.length === 0 ? ' (no upstream caches: it serves nothing; see --upstream)' : ` from ${i.upstreams.join(' ')}`}`,
        '',
        'To substitute only what your vote accepts, add to nix.conf:',
        `  substituters = ${i.substituter}`,
        `  trusted-public-keys = ${i.cachePublicKey}`,
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

/** A flag value's parser whose errors are usage errors (exit 2). */
function usage<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  };
}
