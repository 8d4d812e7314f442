/**
 * The fast path (cli/fast-path.ts) reads a plain command line exactly as yargs does, and hands anything
 * else to yargs: each case below is parsed both ways, with real yargs configured as cli/main.ts
 * configures it, from the same option records.
 */
import test from 'ava';
import yargs, { type CommandModule, type Options } from 'yargs';
import { decideCommand } from '../cli/commands/decide.ts';
import { startCommand } from '../cli/commands/start.ts';
import { evidenceCommand, logsCommand, peersCommand } from '../cli/commands/status.ts';
import { type FastSpec, fastArgs } from '../cli/fast-path.ts';
import { GLOBAL_OPTIONS } from '../cli/main.ts';

type Fast = CommandModule<never, never> & { fast: FastSpec };
const COMMANDS: Record<string, Fast> = {
  logs: logsCommand as unknown as Fast,
  peers: peersCommand as unknown as Fast,
  evidence: evidenceCommand as unknown as Fast,
  decide: decideCommand as unknown as Fast,
  start: startCommand as unknown as Fast,
};

/** What yargs hands the command's handler for `argv`, or the message it fails with. */
async function yargsArgs(argv: string[], command: Fast): Promise<Record<string, unknown> | string> {
  let seen: Record<string, unknown> | undefined;
  try {
    await yargs()
      .options(GLOBAL_OPTIONS as Record<string, Options>)
      .command({
        ...command,
        handler: (args: Record<string, unknown>) => {
          seen = args;
        },
      } as unknown as CommandModule)
      .demandCommand(1)
      .strict()
      .strictCommands()
      .help()
      .alias('h', 'help')
      .version(false)
      .exitProcess(false)
      .fail((message, err) => {
        throw err ?? new Error(message);
      })
      .parseAsync(argv, {}, () => {});
  } catch (err) {
    return (err as Error).message;
  }
  return seen ?? 'no handler ran (help)';
}

/** The keys a handler may read: the declared options (both spellings), the positional, `_`. */
function declared(command: Fast): string[] {
  const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const names = [...Object.keys(GLOBAL_OPTIONS), ...Object.keys(command.fast.options)];
  return [...names, ...names.map(camel), ...(command.fast.positional ? [command.fast.positional] : []), '_'];
}

const pick = (args: Record<string, unknown>, keys: string[]) =>
  Object.fromEntries(keys.filter((k) => args[k] !== undefined).map((k) => [k, args[k]]));

const PLAIN: string[][] = [
  ['logs'],
  ['logs', '--json'],
  ['--json', 'logs'],
  ['--data-dir', '/var/lib/trustix', 'logs'],
  ['logs', '--data-dir=/var/lib/trustix', '--config', 'c.json'],
  ['logs', '--limit', '5', '--after', 'abcd'],
  ['logs', '--limit=007'],
  ['logs', '--watch', '--json'],
  ['--log-level', 'info', 'logs'],
  ['logs', '--log-level=trace'],
  ['peers'],
  ['evidence', '--data-dir', 'relative/dir'],
  ['decide', '/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432'],
  ['decide', '--json', 'a', 'b', '--data-dir', 'x'],
  ['decide', '1234', '007'],
  ['decide', 'a=b', 'true'],
  // The systemd unit's command line (docs/deploy/trustix.service): the daemon never loads yargs.
  [
    'start',
    '--data-dir',
    '/var/lib/trustix',
    '--spool',
    '/var/lib/trustix-spool',
    '--config',
    '/etc/trustix/config.json',
  ],
  ['start'],
  ['start', '--http', '127.0.0.1:0', '--batch-interval', '50', '--witness', '--log-level', 'info'],
];

test('a plain command line: the fast path reads it as yargs does', async (t) => {
  for (const argv of PLAIN) {
    const command = COMMANDS[argv.find((w) => Object.hasOwn(COMMANDS, w))!]!;
    const name = command.command!.toString().split(' ')[0]!;
    const fast = fastArgs(argv, name, GLOBAL_OPTIONS, command.fast);
    const slow = await yargsArgs(argv, command);
    if (fast === undefined || typeof slow === 'string') {
      t.fail(`${argv.join(' ')}: fast ${JSON.stringify(fast)}, yargs ${JSON.stringify(slow)}`);
      continue;
    }
    t.deepEqual(pick(fast, declared(command)), pick(slow, declared(command)), argv.join(' '));
  }
});

const NOT_PLAIN: string[][] = [
  ['logs', '--help'],
  ['logs', '-h'],
  ['--help'],
  ['logs', '--no-json'],
  ['logs', '--json=false'],
  ['logs', '--json', 'false'],
  ['decide', '--json', 'true', 'a'],
  ['logs', '--limit', 'x'],
  ['logs', '--limit', '-1'],
  ['logs', '--limit', '1e3'],
  ['logs', '--json', '--json'],
  ['logs', '--data-dir', 'a', '--data-dir', 'b'],
  ['logs', 'extra'],
  ['decide'],
  ['decide', '--', '-x'],
  ['decide', '-x'],
  ['logs', '--log-level', 'loud'],
  ['--watch', 'logs'],
  ['logs', '--dataDir', 'x'],
  ['logs', '--data-dir'],
  ['logs', '--data-dir', '-x'],
  ['logs', '--data-dir='],
  ['logs', '--unknown'],
  // start's flags that may repeat (arrays) are yargs': `start` with them loads it.
  ['start', '--listen', '/ip4/127.0.0.1/tcp/0'],
  ['start', '--bootstrap', '/ip4/127.0.0.1/tcp/1/p2p/x', '--spool', 's'],
  ['peers', '--limit', '3'],
  ['other', 'logs'],
];

test('any other command line goes to yargs (the fast path answers undefined)', (t) => {
  for (const argv of NOT_PLAIN) {
    const word = argv.find((w) => Object.hasOwn(COMMANDS, w)) ?? 'logs';
    const command = COMMANDS[word]!;
    t.is(fastArgs(argv, word, GLOBAL_OPTIONS, command.fast), undefined, argv.join(' '));
  }
});

test('where the fast path steps aside, yargs reads the line differently or refuses it', async (t) => {
  // The cases above are not arbitrary: each one yargs reads in a way a naive reading would get wrong.
  const json = await yargsArgs(['logs', '--json', 'false'], COMMANDS['logs']!);
  t.is((json as Record<string, unknown>)['json'], false);
  const repeated = await yargsArgs(['logs', '--data-dir', 'a', '--data-dir', 'b'], COMMANDS['logs']!);
  t.deepEqual((repeated as Record<string, unknown>)['data-dir'], ['a', 'b']);
  const negated = await yargsArgs(['logs', '--no-json'], COMMANDS['logs']!);
  t.is((negated as Record<string, unknown>)['json'], false);
  t.regex((await yargsArgs(['logs', 'extra'], COMMANDS['logs']!)) as string, /Unknown (argument|command)/);
  t.regex((await yargsArgs(['decide'], COMMANDS['decide']!)) as string, /Not enough non-option arguments/);
});
