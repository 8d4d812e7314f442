// First: libp2p 3 calls Promise.withResolvers, which Node 20 lacks.
import '../node/runtime/promise-with-resolvers.ts';
/**
 * The `trustix` command line: a thin yargs layer over node/ and protocol/.
 * Parses, calls, prints (human text, or one JSON document with --json). Only this layer writes to stdout.
 */
import yargs, { type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { VERSION } from '../node/runtime/version.ts';
import { bootstrapCommand } from './commands/bootstrap.ts';
import { challengeCommand } from './commands/challenge.ts';
import { configCommand } from './commands/config.ts';
import { decideCommand } from './commands/decide.ts';
import { demoCommand } from './commands/demo.ts';
import { followCommand, unfollowCommand } from './commands/follow.ts';
import { importCacheCommand } from './commands/import-cache.ts';
import { initCommand } from './commands/init.ts';
import { publishCommand } from './commands/publish.ts';
import { startCommand } from './commands/start.ts';
import { evidenceCommand, logsCommand, peersCommand } from './commands/status.ts';
import { submitCommand } from './commands/submit.ts';
import { verifyCommand } from './commands/verify.ts';
import { ExitCode, exitCodeFor } from './exit-code.ts';
import type { GlobalOptions } from './global-options.ts';
import { applyLogLevel, LOG_LEVELS } from './log-level.ts';

const COMMANDS = [
  initCommand,
  startCommand,
  publishCommand,
  submitCommand,
  importCacheCommand,
  verifyCommand,
  followCommand,
  unfollowCommand,
  logsCommand,
  peersCommand,
  evidenceCommand,
  decideCommand,
  challengeCommand,
  configCommand,
  bootstrapCommand,
  demoCommand,
] as unknown as CommandModule<GlobalOptions, never>[];

export async function main(argv: readonly string[]): Promise<number> {
  let failed: unknown;
  let usage = false;
  const parser = yargs(argv as string[])
    .scriptName('trustix')
    .usage('$0 <command> [options]\n\nDistributed trust for Nix binaries.')
    .option('data-dir', {
      type: 'string',
      describe:
        'Data directory (default: $TRUSTIX_DATA_DIR, else $XDG_DATA_HOME/trustix, else ~/.local/share/trustix)',
    })
    .option('config', {
      type: 'string',
      describe: 'Config file (default: config.json in the data directory, when present)',
    })
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON document instead of text' })
    .option('log-level', {
      type: 'string',
      choices: LOG_LEVELS,
      describe: 'Logging on stderr: error (default), info, debug, trace ($TRUSTIX_LOG_LEVEL; $DEBUG wins)',
    })
    .middleware((args) => applyLogLevel(args['log-level'] as string | undefined))
    .command(COMMANDS)
    .demandCommand(1, 'Name a command (see --help).')
    .strict()
    .strictCommands()
    .help()
    .alias('h', 'help')
    // Our own: without it yargs looks for a package.json from the working directory.
    .version(VERSION)
    .wrap(Math.min(110, process.stdout.columns ?? 80))
    .fail((message, err) => {
      if (err) failed = err;
      else {
        usage = true;
        process.stderr.write(`${message}\nRun 'trustix --help' for usage.\n`);
      }
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    failed = err;
  }
  if (usage) return ExitCode.usage;
  if (failed !== undefined) {
    process.stderr.write(`trustix: ${failed instanceof Error ? failed.message : String(failed)}\n`);
    return exitCodeFor(failed);
  }
  return ExitCode.ok;
}

process.exitCode = await main(hideBin(process.argv));
