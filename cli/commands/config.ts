/**
 * `trustix config show`: the settings `trustix start` would run with, resolved from the built-in defaults,
 * the config file and the flags given (the same flags as start), with the file it read.
 */
import type { Argv, CommandModule } from 'yargs';
import { effectiveConfig } from '../effective-config.ts';
import type { GlobalOptions } from '../global-options.ts';
import { type NodeArgs, nodeOptions } from '../node-options.ts';
import { print } from '../output.ts';

export const configCommand: CommandModule<GlobalOptions, NodeArgs> = {
  command: 'config <action>',
  describe: 'Show the effective configuration (defaults, then the config file, then flags)',
  builder: (yargs: Argv<GlobalOptions>) =>
    nodeOptions(yargs).positional('action', {
      choices: ['show'] as const,
      demandOption: true,
    }) as unknown as Argv<NodeArgs>,
  handler: async (argv) => {
    const { config } = await effectiveConfig(argv);
    // The text form is a valid config file (JSON with comments): it can be saved and edited.
    print(argv, config, ({ dataDir, configFile, ...options }) =>
      [
        `// data directory ${dataDir}`,
        `// ${configFile === null ? 'no config file: built-in defaults and flags' : `${configFile}, with defaults and flags`}`,
        JSON.stringify(options, null, 2),
      ].join('\n'),
    );
  },
};
