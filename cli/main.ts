/**
 * The `trustix` command line: a thin yargs layer over node/ and protocol/.
 * Parses, calls, prints (human text, or one JSON document with --json). Only this layer writes to stdout,
 * and only through the run's io (cli/io.ts): `main` runs in any process, cli/bin/trustix.js hands it the
 * real one.
 *
 * It starts fast (docs/CLI.md): a command's module, and what it imports, loads only when that command
 * runs, so a client command (`logs`, `decide`, ...) never loads libp2p or LevelDB; and a client command
 * with a plain command line runs without loading yargs at all (cli/fast-path.ts). The table below is
 * what `--help` lists; test/cli-main.test.ts checks it against the modules.
 */
// First: libp2p 3 calls Promise.withResolvers, which Node 20 lacks.
import '../node/client.ts';
import type { CommandModule, Options } from 'yargs';
import { VERSION } from '../node/client.ts';
import { ExitCode, exitCodeFor, UsageError } from './exit-code.ts';
import { type FastSpec, type FlagSpecs, fastArgs } from './fast-path.ts';
import type { GlobalOptions } from './global-options.ts';
import type { CliIo } from './io.ts';
import { LOG_LEVELS, logNamespaces } from './log-level.ts';

/** A command module; those that declare `fast` can run without yargs (cli/fast-path.ts). */
type Command = CommandModule<GlobalOptions, never> & { readonly fast?: FastSpec };

/** A command as `--help` lists it, and how to load it. */
export interface CommandEntry {
  /** yargs' command string, the same as the module's. */
  readonly command: string;
  readonly describe: string;
  /**
   * Runs node code in this process (storage, libp2p, an import): gets `--log-level`. The others only
   * talk to the running node over its socket and load no logger.
   */
  readonly local: boolean;
  readonly load: () => Promise<Command>;
}

const as = (module: unknown) => module as Command;

export const COMMANDS: readonly CommandEntry[] = [
  {
    command: 'init',
    describe: 'Create the data directory, the log key, the cache key and the witness key',
    local: true,
    load: async () => as((await import('./commands/init.ts')).initCommand),
  },
  {
    command: 'start',
    describe: 'Run the node: sequencer, submission socket and HTTP server (until Ctrl-C)',
    local: true,
    load: async () => as((await import('./commands/start.ts')).startCommand),
  },
  {
    command: 'publish',
    describe: 'Publish the build Nix just finished (post-build hook: reads DRV_PATH and OUT_PATHS)',
    local: false,
    load: async () => as((await import('./commands/publish.ts')).publishCommand),
  },
  {
    command: 'submit <paths..>',
    describe: 'Publish store paths to the node’s log',
    local: false,
    load: async () => as((await import('./commands/submit.ts')).submitCommand),
  },
  {
    command: 'import-cache <url>',
    describe: 'Import the signed narinfos of a binary cache (file:// or http(s)://) into the log',
    local: true,
    load: async () => as((await import('./commands/import-cache.ts')).importCacheCommand),
  },
  {
    command: 'verify [log]',
    describe:
      "Recompute a log (default: the node's own) and check it against its signed checkpoint (node stopped)",
    local: true,
    load: async () => as((await import('./commands/verify.ts')).verifyCommand),
  },
  {
    command: 'follow <log>',
    describe: 'Follow a log (by vkey or Nix public key): mirror it, verify it, count it in the vote',
    local: false,
    load: async () => as((await import('./commands/follow.ts')).followCommand),
  },
  {
    command: 'unfollow <log>',
    describe: 'Stop following a log (by name, log ID, vkey or Nix public key); its data stays',
    local: false,
    load: async () => as((await import('./commands/follow.ts')).unfollowCommand),
  },
  {
    command: 'logs',
    describe:
      'The node’s own log, the followed logs (size, verified size, lag, sources, state) and logs seen',
    local: false,
    load: async () => as((await import('./commands/status.ts')).logsCommand),
  },
  {
    command: 'peers',
    describe: 'The node’s libp2p connections',
    local: false,
    load: async () => as((await import('./commands/status.ts')).peersCommand),
  },
  {
    command: 'evidence',
    describe: 'Fork evidence the node holds: logs whose key signed two histories',
    local: false,
    load: async () => as((await import('./commands/status.ts')).evidenceCommand),
  },
  {
    command: 'decide <paths..>',
    describe: 'Show the vote for store paths (exit 3 when a path is undecided)',
    local: false,
    load: async () => as((await import('./commands/decide.ts')).decideCommand),
  },
  {
    command: 'challenge [paths..]',
    describe: 'Compare what the followed logs say about store paths: reproducible, mismatch or inconclusive',
    local: false,
    load: async () => as((await import('./commands/challenge.ts')).challengeCommand),
  },
  {
    command: 'config <action>',
    describe: 'Show the effective configuration (defaults, then the config file, then flags)',
    local: true,
    load: async () => as((await import('./commands/config.ts')).configCommand),
  },
  {
    command: 'bootstrap',
    describe: 'Run a bootstrap node: DHT server, gossip and circuit relay, no log of its own',
    local: true,
    load: async () => as((await import('./commands/bootstrap.ts')).bootstrapCommand),
  },
  {
    command: 'demo',
    describe:
      'Show Trustix at work on 127.0.0.1, no Nix needed: four builders (one lying), the vote, challenge, the dashboard (text only, until Ctrl-C)',
    local: true,
    load: async () => as((await import('./commands/demo.ts')).demoCommand),
  },
];

/** The options every command takes (GlobalOptions), for yargs and the fast path alike. */
export const GLOBAL_OPTIONS: FlagSpecs = {
  'data-dir': {
    type: 'string',
    describe:
      'Data directory (default: $TRUSTIX_DATA_DIR, else $XDG_DATA_HOME/trustix, else ~/.local/share/trustix)',
  },
  config: {
    type: 'string',
    describe: 'Config file (default: config.json in the data directory, when present)',
  },
  json: { type: 'boolean', default: false, describe: 'Print one JSON document instead of text' },
  'log-level': {
    type: 'string',
    choices: LOG_LEVELS,
    describe:
      'Logging on stderr: error (default), info, debug, trace (first of: this, $DEBUG, $TRUSTIX_LOG_LEVEL)',
  },
};

/** Global options that take a value (the next word, unless written --option=value). */
const VALUED = new Set(['--data-dir', '--config', '--log-level']);

/** The first word of `argv` that is not an option: the command's name, if any. */
function commandWord(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') return argv[i + 1];
    if (!word.startsWith('-')) return word;
    if (VALUED.has(word)) i++;
  }
  return undefined;
}

const nameOf = (entry: CommandEntry) => entry.command.split(' ')[0]!;

/**
 * Runs `trustix ARGV` (the arguments after the program's name) and returns the exit code (docs/CLI.md).
 * Never exits the process: the caller sets its exit code.
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  // Scripts ask for the version to check an install: answered without loading the parser (about a
  // third of a client command's start, docs/CLI.md).
  if (argv.length === 1 && argv[0] === '--version') {
    io.stdout.write(`${VERSION}\n`);
    return ExitCode.ok;
  }
  // Only the command asked for is loaded; the others are registered by name and description, for --help
  // and for yargs to tell an unknown command from a known one.
  const word = commandWord(argv);
  const chosen = COMMANDS.find((c) => nameOf(c) === word);
  const commands: Command[] = [];
  let fast: (() => Promise<unknown>) | undefined;
  for (const entry of COMMANDS) {
    if (entry === chosen) {
      const module = await entry.load();
      const handler = async (args: Parameters<Command['handler']>[0]) => {
        if (entry.local) await applyLogLevel(args as unknown as { 'log-level'?: string }, io);
        return module.handler(args);
      };
      commands.push({ ...module, handler });
      const args = module.fast && fastArgs(argv, nameOf(entry), GLOBAL_OPTIONS, module.fast);
      if (args)
        fast = async () => {
          // What yargs' middleware below does for every command.
          logNamespaces(args['log-level'] as string | undefined, io.env);
          return handler({ ...args, io } as unknown as Parameters<Command['handler']>[0]);
        };
    } else
      commands.push({
        command: entry.command,
        describe: entry.describe,
        handler: () => {
          throw new Error(`${nameOf(entry)} was not loaded`);
        },
      });
  }
  if (fast !== undefined) {
    try {
      await fast();
      return ExitCode.ok;
    } catch (err) {
      return await failed(err, io);
    }
  }
  const { default: yargs } = await import('yargs');
  let output = '';
  const parser = yargs()
    .scriptName('trustix')
    .usage('$0 <command> [options]\n\nDistributed trust for Nix binaries.')
    .options(GLOBAL_OPTIONS as Record<string, Options>)
    // Checked for every command, applied only by those that log (above).
    .middleware((args) => {
      logNamespaces(args['log-level'] as string | undefined, io.env);
    })
    .command(commands as unknown as CommandModule[])
    .demandCommand(1, 'Name a command (see --help).')
    .strict()
    .strictCommands()
    .help()
    .alias('h', 'help')
    // Our own: without it yargs looks for a package.json from the working directory.
    .version(VERSION)
    .wrap(Math.min(110, io.stdout.columns ?? 80))
    .exitProcess(false)
    .fail((message, err) => {
      throw err ?? new YargsUsageError(message);
    });
  try {
    // `io` reaches every handler in its argv (GlobalOptions); the callback takes --help's and --version's text.
    await parser.parseAsync([...argv], { io }, (_err, _args, text) => {
      output = text;
    });
  } catch (err) {
    return await failed(err, io);
  }
  if (output) io.stdout.write(`${output}\n`);
  return ExitCode.ok;
}

/** Reports a failed run on stderr and returns its exit code. */
async function failed(err: unknown, io: CliIo): Promise<number> {
  io.stderr.write(`trustix: ${err instanceof Error ? err.message : String(err)}\n`);
  if (err instanceof YargsUsageError) io.stderr.write("Run 'trustix --help' for usage.\n");
  return await exitCodeFor(err);
}

/** A mistake yargs found on the command line (unknown command or option, missing argument): exit 2. */
class YargsUsageError extends UsageError {}

async function applyLogLevel(args: { 'log-level'?: string }, io: CliIo): Promise<void> {
  const namespaces = logNamespaces(args['log-level'], io.env);
  if (namespaces === undefined) return;
  const { enable } = await import('@libp2p/logger');
  enable(namespaces);
}
