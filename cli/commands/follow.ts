/**
 * `trustix follow <vkey | nix-public-key> [--name N] [--weight W] [--light]` and `trustix unfollow <log>`:
 * change which logs the running node mirrors and votes with. Persistent.
 */
import type { Argv, CommandModule } from 'yargs';
import { parseWeight } from '../../node/client.ts';
import { parseLogKey } from '../../protocol/index.ts';
import { control } from '../control.ts';
import type { GlobalOptions } from '../global-options.ts';
import { print } from '../output.ts';

interface FollowArgs extends GlobalOptions {
  readonly log: string;
  readonly name?: string;
  readonly weight?: string;
  readonly light?: boolean;
}

export const followCommand: CommandModule<GlobalOptions, FollowArgs> = {
  command: 'follow <log>',
  describe: 'Follow a log (by vkey or Nix public key): mirror it, verify it, count it in the vote',
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs
      .positional('log', {
        type: 'string',
        demandOption: true,
        describe: 'vkey NAME+HASH+KEY or NAME:BASE64',
      })
      .option('name', {
        type: 'string',
        describe: 'Name to show and to use in the vote (default: the key name)',
      })
      .option('weight', { type: 'string', describe: 'Weight in the vote (default 1)' })
      .option('light', {
        type: 'boolean',
        describe:
          'Keep no copy: look entries up with proofs from peers holding the log (--no-light: mirror it; default: unchanged, full for a new log)',
      }),
  handler: async (argv) => {
    // Checked here first, so a typo is a usage error (exit 2) without asking the node.
    parseLogKey(argv.log);
    // Loaded only when needed: the store's module brings LevelDB, which a client command does without.
    const weight = argv.weight === undefined ? undefined : parseWeight(argv.weight);
    const answer = await control(argv, 'follow', {
      log: argv.log,
      ...(argv.name !== undefined ? { name: argv.name } : {}),
      ...(weight !== undefined ? { weight } : {}),
      ...(argv.light !== undefined ? { light: argv.light } : {}),
    });
    print(
      argv,
      answer,
      (a) =>
        `${a['added'] ? 'following' : 'updated'} ${a['name']} (${a['logId']}), weight ${a['weight']}, ${a['mode'] ?? 'full'}`,
    );
  },
};

interface UnfollowArgs extends GlobalOptions {
  readonly log: string;
}

export const unfollowCommand: CommandModule<GlobalOptions, UnfollowArgs> = {
  command: 'unfollow <log>',
  describe: 'Stop following a log (by name, log ID, vkey or Nix public key); its data stays',
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs.positional('log', { type: 'string', demandOption: true, describe: 'The log' }),
  handler: async (argv) => {
    const answer = await control(argv, 'unfollow', { log: argv.log });
    print(argv, answer, (a) =>
      a['removed'] ? `no longer following ${a['name']} (${a['logId']})` : `${argv.log} was not followed`,
    );
  },
};
