/**
 * `trustix logs`, `trustix peers`, `trustix evidence`: what the running node holds and sees.
 */
import type { Argv, CommandModule } from 'yargs';
import { ISOLATED_ADVICE } from '../../node/network/reachability.ts';
import { control } from '../control.ts';
import type { GlobalOptions } from '../global-options.ts';
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
}

interface LogsArgs extends GlobalOptions {
  readonly watch: boolean;
}

export const logsCommand: CommandModule<GlobalOptions, LogsArgs> = {
  command: 'logs',
  describe: 'The node’s own log, the followed logs (size, verified size, lag, sources, state) and logs seen',
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs.option('watch', {
      type: 'boolean',
      default: false,
      describe: 'Follow sync progress until Ctrl-C: bars on a terminal, a line per change otherwise',
    }) as unknown as Argv<LogsArgs>,
  handler: async (argv) => {
    if (argv.watch) return watch(argv);
    const answer = await control(argv, 'logs');
    print(argv, answer, (a) => {
      const own = a['own'] as { logId: string; size: number } | null;
      const followed = (a['followed'] ?? []) as FollowedStatus[];
      const seen = (a['seen'] ?? []) as { logId: string; size: number; forked: boolean }[];
      const lines = own ? [`own log ${own.logId}: ${own.size} entries`] : [];
      lines.push(followed.length === 0 ? 'following no logs (trustix follow <vkey>)' : 'followed:');
      for (const f of followed)
        lines.push(
          `  ${f.name.padEnd(20)} ${f.state.padEnd(8)} size ${f.size}  verified ${f.verifiedSize}  lag ${f.lag}  weight ${f.weight}  sources ${f.sources?.length ?? 0}`,
        );
      const others = seen.filter((s) => !followed.some((f) => f.logId === s.logId) && s.logId !== own?.logId);
      if (others.length > 0) lines.push(`seen on the network, not followed: ${others.length}`);
      for (const s of others.slice(0, 20))
        lines.push(`  ${s.logId}  size ${s.size}${s.forked ? '  FORKED' : ''}`);
      return lines.join('\n');
    });
  },
};

/** `logs --watch`: the followed logs' sync progress, once a second, until SIGINT or SIGTERM. */
async function watch(argv: LogsArgs): Promise<void> {
  const tty = process.stdout.isTTY === true && !argv.json;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let drawn = 0;
  const last = new Map<string, string>();
  try {
    while (!stop.signal.aborted) {
      const followed = ((await control(argv, 'logs'))['followed'] ?? []) as FollowedStatus[];
      if (argv.json) process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), followed })}\n`);
      else if (tty) {
        // Redraw the block in place: up over what was drawn, then one line per log.
        process.stdout.write(`${drawn > 0 ? `\x1b[${drawn}A` : ''}${followed.map(bar).join('\n')}\n`);
        drawn = followed.length;
      } else
        for (const f of followed) {
          const line = `${f.name}: ${f.state} ${f.verifiedSize}/${f.size}`;
          if (last.get(f.logId) !== line) process.stdout.write(`${line}\n`);
          last.set(f.logId, line);
        }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 1000);
        stop.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function bar(f: FollowedStatus): string {
  const width = 30;
  const filled = f.size === 0 ? width : Math.floor((f.verifiedSize / f.size) * width);
  return `${f.name.padEnd(16).slice(0, 16)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${f.verifiedSize}/${f.size} ${f.state}\x1b[K`;
}

export const peersCommand: CommandModule<GlobalOptions, GlobalOptions> = {
  command: 'peers',
  describe: 'The node’s libp2p connections',
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

export const evidenceCommand: CommandModule<GlobalOptions, GlobalOptions> = {
  command: 'evidence',
  describe: 'Fork evidence the node holds: logs whose key signed two histories',
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
