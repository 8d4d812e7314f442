/**
 * `trustix demo [--entries N] [--http PORT] [--keep]`: the README's four builders, a bootstrap node and
 * your own node on 127.0.0.1 (node/demo/run-demo.ts), told as it happens, until Ctrl-C. Text only (no
 * --json): it is a tour for people. Needs no Nix and no setup: everything lives in a temporary directory,
 * removed at the end unless --keep.
 */
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_DEMO_ENTRIES, MAX_DEMO_BUILDS, MIN_DEMO_BUILDS, runDemo } from '../../node/index.ts';
import { UsageError } from '../exit-code.ts';
import type { GlobalOptions } from '../global-options.ts';
import { signalName } from '../io.ts';

interface DemoArgs extends GlobalOptions {
  readonly entries: number;
  readonly http: number;
  readonly keep: boolean;
}

// Tags coloured on a terminal only: piped output stays plain text.
const COLOURS: Readonly<Record<string, string>> = {
  demo: '1',
  builds: '35',
  network: '36',
  sync: '34',
  vote: '33',
  challenge: '35',
  dashboard: '32',
  try: '2',
};

function colour(line: string): string {
  const m = /^\[([a-z]+)\] /.exec(line);
  if (m === null) return line;
  const rest = line
    .slice(m[0].length)
    .replace(/^served /, '\x1b[32mserved\x1b[0m ')
    .replace(/^refused /, '\x1b[31mrefused\x1b[0m ');
  return `\x1b[${COLOURS[m[1]!] ?? '0'}m[${m[1]}]\x1b[0m ${rest}`;
}

export const demoCommand: CommandModule<GlobalOptions, DemoArgs> = {
  command: 'demo',
  describe:
    'Show Trustix at work on 127.0.0.1, no Nix needed: four builders (one lying), the vote, challenge, the dashboard (text only, until Ctrl-C)',
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs
      .option('entries', {
        type: 'number',
        default: DEFAULT_DEMO_ENTRIES,
        describe: `Builds to synthesise (${MIN_DEMO_BUILDS}-${MAX_DEMO_BUILDS})`,
      })
      .option('http', {
        type: 'number',
        default: 0,
        describe: "Port of your node's substituter and dashboard on 127.0.0.1 (default: any free port)",
      })
      .option('keep', {
        type: 'boolean',
        default: false,
        describe: 'Keep the temporary directory (data directories, binary caches) at the end',
      }) as unknown as Argv<DemoArgs>,
  handler: async (argv) => {
    if (argv.json) throw new UsageError('demo prints text only: --json is not supported');
    const { entries, http } = argv;
    if (!Number.isSafeInteger(entries) || entries < MIN_DEMO_BUILDS || entries > MAX_DEMO_BUILDS)
      throw new UsageError(`--entries must be an integer from ${MIN_DEMO_BUILDS} to ${MAX_DEMO_BUILDS}`);
    if (!Number.isSafeInteger(http) || http < 0 || http > 65_535)
      throw new UsageError('--http must be a port number from 0 to 65535');
    const { stdout, stderr } = argv.io;
    const tty = stdout.isTTY === true;
    // A second signal quits at once, without cleaning up: cli/bin/trustix.js does that.
    const signal = argv.io.signal ?? new AbortController().signal;
    const onAbort = () =>
      stderr.write(`\n${signalName(signal)}: stopping the demo (press Ctrl-C again to quit at once)\n`);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await runDemo({
        entries,
        httpPort: http,
        keep: argv.keep,
        signal,
        out: (line) => stdout.write(`${tty ? colour(line) : line}\n`),
      });
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  },
};
