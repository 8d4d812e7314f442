/**
 * `trustix init [--name NAME] [--key FILE] [--spool DIR]`: create the data directory, the node's keys
 * and the post-build hook for nix.conf. On a directory made before witness keys, it adds the witness key.
 */
import type { Argv, CommandModule } from 'yargs';
import { dataDir, initDataDir, writePostBuildHook } from '../../node/client.ts';
import { formatNixPublicKey } from '../../protocol/index.ts';
import { effectiveSpool } from '../effective-config.ts';
import { dataDirOf, type GlobalOptions } from '../global-options.ts';
import { print } from '../output.ts';

interface InitArgs extends GlobalOptions {
  readonly name?: string;
  readonly key?: string;
  readonly spool?: string;
}

export const initCommand: CommandModule<GlobalOptions, InitArgs> = {
  command: 'init',
  describe: 'Create the data directory, the log key, the cache key and the witness key',
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs
      .option('name', { type: 'string', describe: 'Name of the log key (default: <hostname>-1)' })
      .option('key', {
        type: 'string',
        describe: 'Use this Nix secret key file (nix key generate-secret) as the log key',
      })
      .option('spool', {
        type: 'string',
        describe:
          'The spool the post-build hook writes to (default: "spool" in the config file, else <data dir>/spool)',
      }),
  handler: async (argv) => {
    const dir = dataDirOf(argv);
    const result = await initDataDir(dir, {
      ...(argv.name !== undefined ? { name: argv.name } : {}),
      ...(argv.key !== undefined ? { keyFile: argv.key } : {}),
    });
    const paths = dataDir(dir);
    const spool = await effectiveSpool(argv);
    await writePostBuildHook(paths.postBuildHook, spool);
    const out = {
      dataDir: dir,
      created: result.created,
      logName: result.log.name,
      vkey: result.log.vkey,
      nixPublicKey: formatNixPublicKey(result.log),
      logId: result.log.logId,
      cachePublicKey: formatNixPublicKey(result.cacheSecret),
      witnessVkey: result.witness?.key.vkey ?? null,
      spool,
      postBuildHook: paths.postBuildHook,
    };
    print(argv, out, (o) =>
      [
        o.created ? `Initialised ${o.dataDir}` : `${o.dataDir} is already initialised`,
        `log key name:    ${o.logName}`,
        `log vkey:        ${o.vkey}`,
        `log public key:  ${o.nixPublicKey}`,
        `log ID:          ${o.logId}`,
        `cache key:       ${o.cachePublicKey}   (for nix.conf trusted-public-keys)`,
        ...(o.witnessVkey === null ? [] : [`witness vkey:    ${o.witnessVkey}   (for others' "witnesses")`]),
        `post-build hook: ${o.postBuildHook}   (for nix.conf post-build-hook; writes to ${o.spool})`,
      ].join('\n'),
    );
  },
};
