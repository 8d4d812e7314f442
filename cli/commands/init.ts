/**
 * `trustix init [--name NAME] [--key FILE]`: create the data directory and the node's keys.
 */
import type { Argv, CommandModule } from 'yargs';
import { initDataDir } from '../../node/store/data-dir.ts';
import { formatNixPublicKey } from '../../protocol/keys.ts';
import { dataDirOf, type GlobalOptions } from '../global-options.ts';
import { print } from '../output.ts';

interface InitArgs extends GlobalOptions {
  readonly name?: string;
  readonly key?: string;
}

export const initCommand: CommandModule<GlobalOptions, InitArgs> = {
  command: 'init',
  describe: 'Create the data directory, the log key and the cache key',
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs
      .option('name', { type: 'string', describe: 'Name of the log key (default: <hostname>-1)' })
      .option('key', {
        type: 'string',
        describe: 'Use this Nix secret key file (nix key generate-secret) as the log key',
      }),
  handler: async (argv) => {
    const dir = dataDirOf(argv);
    const result = await initDataDir(dir, {
      ...(argv.name !== undefined ? { name: argv.name } : {}),
      ...(argv.key !== undefined ? { keyFile: argv.key } : {}),
    });
    const out = {
      dataDir: dir,
      created: result.created,
      logName: result.log.name,
      vkey: result.log.vkey,
      nixPublicKey: formatNixPublicKey(result.log),
      logId: result.log.logId,
      cachePublicKey: formatNixPublicKey(result.cacheSecret),
    };
    print(argv, out, (o) =>
      [
        o.created ? `Initialised ${o.dataDir}` : `${o.dataDir} is already initialised`,
        `log key name:    ${o.logName}`,
        `log vkey:        ${o.vkey}`,
        `log public key:  ${o.nixPublicKey}`,
        `log ID:          ${o.logId}`,
        `cache key:       ${o.cachePublicKey}   (for nix.conf trusted-public-keys)`,
      ].join('\n'),
    );
  },
};
