/**
 * `trustix submit PATH... [--closure]`: publish store paths by hand. The node hashes each path itself
 * and checks the result against Nix's own record before appending it.
 */
import type { Argv, CommandModule } from 'yargs';
import { submit } from '../../node/control/submit-client.js';
import { NixStore } from '../../node/own-log/nix-store.ts';
import { dataDir } from '../../node/store/data-dir.ts';
import { parseStorePath } from '../../protocol/store-path.ts';
import { dataDirOf, type GlobalOptions } from '../global-options.ts';
import { print } from '../output.ts';

interface SubmitArgs extends GlobalOptions {
  readonly paths: string[];
  readonly closure: boolean;
}

export const submitCommand: CommandModule<GlobalOptions, SubmitArgs> = {
  command: 'submit <paths..>',
  describe: 'Publish store paths to the node’s log',
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs
      .positional('paths', { type: 'string', array: true, demandOption: true, describe: 'Store paths' })
      .option('closure', {
        type: 'boolean',
        default: false,
        describe: 'Also publish everything the paths refer to',
      }),
  handler: async (argv) => {
    const paths = argv.paths.map((p) => parseStorePath(p).path);
    const all = argv.closure ? await new NixStore({ env: argv.io.env }).requisites(paths) : paths;
    const queued = await submit(
      dataDir(dataDirOf(argv)).socket,
      all.map((path) => ({ kind: 'path' as const, path })),
    );
    print(argv, { queued, paths: all }, (o) => `queued ${o.queued} path(s)`);
  },
};
