/**
 * `trustix logs`, `trustix peers`, `trustix evidence`: what the running node holds and sees.
 */
import { setTimeout } from 'node:timers/promises';
import type { Argv, CommandModule, Options } from 'yargs';
import { ISOLATED_ADVICE } from '../../node/client.ts';
import { control } from '../control.ts';
import type { FastSpec, FlagSpecs } from '../fast-path.ts';
import type { GlobalOptions } from '../global-options.ts';
import { followedTable } from '../logs-table.ts';
import { print } from '../output.ts';

interface FollowedStatus {
  name: string;
  logId: string;
  weight: number;
  state: string;
  size: number;
  verifiedSize: number;
  lag: number;
  sources: string[];
  /** While searching: why no source answered yet (docs/CLI.md). */
  search?: { reason: string; message: string };
  error?: { code: string; message: string };
}

interface LogsArgs extends GlobalOptions {
  readonly watch: boolean;
  readonly after?: string;
  readonly limit?: number;
}

const LOGS_OPTIONS: FlagSpecs = {
  watch: {
    type: 'boolean',
    default: false,
    describe: 'Follow sync progress until Ctrl-C: bars on a terminal, a line per change otherwise',
  },
  after: {
    type: 'string',
    describe: 'Logs seen but not followed: the page after this log ID (from the previous page)',
  },
  limit: {
    type: 'number',
    describe: 'Logs seen but not followed: at most this many (1 to 1000; default 20, 100 with --json)',
  },
};

export const logsCommand: CommandModule<GlobalOptions, LogsArgs> & { fast: FastSpec } = {
  command: 'logs',
  describe: 'The node’s own log, the followed logs (size, verified size, lag, sources, state) and logs seen',
  fast: { options: LOGS_OPTIONS },
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs.options(LOGS_OPTIONS as Record<string, Options>) as unknown as Argv<LogsArgs>,
  handler: async (argv) => {
    if (argv.watch) return watch(argv);
    const answer = await control(argv, 'logs', {
      ...(argv.after !== undefined ? { after: argv.after } : {}),
      limit: argv.limit ?? (argv.json ? 100 : 20),
    });
    print(argv, answer, (a) => {
      const own = a['own'] as { logId: string; size: number } | null;
      const followed = (a['followed'] ?? []) as FollowedStatus[];
      const seen = (a['seen'] ?? []) as { logId: string; size: number; forked: boolean }[];
      const total = (a['seenTotal'] as number | undefined) ?? seen.length;
      const next = a['seenNext'] as string | null | undefined;
      const lines = own ? [`own log ${own.logId}: ${own.size} entries`] : [];
      lines.push(followed.length === 0 ? 'following no logs (trustix follow <vkey>)' : 'followed:');
      lines.push(...followedTable(followed));
      for (const f of followed) if (f.search) lines.push(`    ${f.name}: ${f.search.message}`);
      if (total > 0) lines.push(`seen on the network, not followed: ${total}`);
      for (const s of seen) lines.push(`  ${s.logId}  size ${s.size}${s.forked ? '  FORKED' : ''}`);
      if (next) lines.push(`  more: trustix logs --after ${next}`);
      return lines.join('\n');
    });
  },
};

/** `logs --watch`: the followed logs' sync progress, once a second, until SIGINT or SIGTERM (the run's signal). */
async function watch(argv: LogsArgs): Promise<void> {
  const { stdout, signal } = argv.io;
  const tty = stdout.isTTY === true && !argv.json;
  let drawn = 0;
  const last = new Map<string, string>();
  while (signal?.aborted !== true) {
    const followed = ((await control(argv, 'logs'))['followed'] ?? []) as FollowedStatus[];
    if (argv.json) stdout.write(`${JSON.stringify({ at: new Date().toISOString(), followed })}\n`);
    else if (tty) {
      // Redraw the block in place: up over what was drawn, then one line per log.
      stdout.write(`${drawn > 0 ? `\x1b[${drawn}A` : ''}${followed.map(bar).join('\n')}\n`);
      drawn = followed.length;
    } else
      for (const f of followed) {
        const line = `${f.name}: ${f.state} ${f.verifiedSize}/${f.size}`;
        if (last.get(f.logId) !== line) stdout.write(`${line}\n`);
        last.set(f.logId, line);
      }
    // Cut short by the signal (it rejects then).
    await setTimeout(1000, undefined, signal ? { signal } : {}).catch(() => {});
  }
}

function bar(f: FollowedStatus): string {
  const width = 30;
  const filled = f.size === 0 ? width : Math.floor((f.verifiedSize / f.size) * width);
  return `${f.name.padEnd(16).slice(0, 16)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${f.verifiedSize}/${f.size} ${f.state}\x1b[K`;
}

export const peersCommand: CommandModule<GlobalOptions, GlobalOptions> & { fast: FastSpec } = {
  command: 'peers',
  describe: 'The node’s libp2p connections',
  fast: { options: {} },
  handler: async (argv) => {
    const answer = await control(argv, 'peers');
    print(argv, answer, (a) => {
      const peers = (a['peers'] ?? []) as { address: string; direction: string; kind?: string }[];
      const reach = a['reachability'] as { summary: string; state: string } | undefined;
      return [
        `peer ID ${a['peerId'] ?? '(no network)'}; ${peers.length} connection(s)`,
        ...(reach ? [`reachability: ${reach.summary}`] : []),
        ...peers.map((p) => `  ${p.direction.padEnd(8)} ${(p.kind ?? '').padEnd(7)} ${p.address}`),
        ...(reach?.state === 'isolated' ? [ISOLATED_ADVICE] : []),
      ].join('\n');
    });
  },
};

export const evidenceCommand: CommandModule<GlobalOptions, GlobalOptions> & { fast: FastSpec } = {
  command: 'evidence',
  describe: 'Fork evidence the node holds: logs whose key signed two histories',
  fast: { options: {} },
  handler: async (argv) => {
    const answer = await control(argv, 'evidence');
    print(argv, answer, (a) => {
      const list = (a['evidence'] ?? []) as { vkey: string; sizes: number[]; document: string }[];
      if (list.length === 0) return 'no evidence: no followed or seen log has forked';
      return list
        .map(
          (e) =>
            `log ${e.vkey} signed conflicting checkpoints at sizes ${e.sizes.join(' and ')}:\n${e.document}`,
        )
        .join('\n');
    });
  },
};
