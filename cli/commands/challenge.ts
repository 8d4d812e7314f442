/**
 * `trustix challenge [PATH...] [--closure] [--verbose] [--diff] [--json]`, modelled on `guix challenge`:
 * for each store path, what each followed log says (its NAR hash) and a verdict: reproducible (all that
 * built it agree), mismatch (they disagree: who said what is listed), inconclusive (fewer than two
 * built it). With no PATH, everything the followed logs hold (counted from the node's statistics; the
 * mismatching paths listed). A summary closes the output. Exit 0 when nothing mismatches, 3 otherwise.
 */

import type { Argv, CommandModule } from 'yargs';
import { reproducibilityLine } from '../../node/client.ts';
import { control } from '../control.ts';
import { MismatchFoundError } from '../exit-code.ts';
import type { GlobalOptions } from '../global-options.ts';
import { print } from '../output.ts';

interface ChallengeArgs extends GlobalOptions {
  readonly paths?: string[];
  readonly closure: boolean;
  readonly verbose: boolean;
  readonly diff: boolean;
}

interface Item {
  hashPart: string;
  storePath: string | null;
  verdict: 'reproducible' | 'mismatch' | 'inconclusive';
  logs: { log: string; logId: string; fingerprints: string[]; narHashes: string[] }[];
  silent: string[];
  diff?: { text: string } | { error: string };
}

interface Summary {
  analysed: number;
  reproducible: number;
  mismatch: number;
  inconclusive: number;
}

/** Named paths go to the node in groups, so that each answer stays small. */
const GROUP = 200;
const LONG = { timeoutMs: 600_000, maxAnswerBytes: 256 * 1024 * 1024 };

export const challengeCommand: CommandModule<GlobalOptions, ChallengeArgs> = {
  command: 'challenge [paths..]',
  describe: 'Compare what the followed logs say about store paths: reproducible, mismatch or inconclusive',
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs
      .positional('paths', {
        type: 'string',
        array: true,
        describe: 'Store paths or hash parts (default: everything the followed logs hold)',
      })
      .option('closure', { type: 'boolean', default: false, describe: 'Also every path they refer to' })
      .option('verbose', { type: 'boolean', default: false, describe: 'List reproducible paths too' })
      .option('diff', {
        type: 'boolean',
        default: false,
        describe: 'For mismatches, compare the NARs file by file (fetched from the upstream caches)',
      }) as unknown as Argv<ChallengeArgs>,
  handler: async (argv) => {
    const items: Item[] = [];
    let summary: Summary;
    const paths = argv.paths ?? [];
    if (paths.length > 0) {
      if (argv.closure) {
        const answer = (await control(argv, 'challenge', { paths, closure: true }, LONG)) as unknown as {
          items: Item[];
        };
        items.push(...answer.items);
      } else
        for (let i = 0; i < paths.length; i += GROUP) {
          const answer = (await control(
            argv,
            'challenge',
            { paths: paths.slice(i, i + GROUP) },
            LONG,
          )) as unknown as {
            items: Item[];
          };
          items.push(...answer.items);
        }
      summary = {
        analysed: items.length,
        reproducible: items.filter((i) => i.verdict === 'reproducible').length,
        mismatch: items.filter((i) => i.verdict === 'mismatch').length,
        inconclusive: items.filter((i) => i.verdict === 'inconclusive').length,
      };
    } else {
      let after: string | null = null;
      let last: Summary | undefined;
      do {
        const answer = (await control(
          argv,
          'challenge',
          after === null ? {} : { after },
          LONG,
        )) as unknown as {
          items: Item[];
          summary: Summary;
          next: string | null;
        };
        items.push(...answer.items);
        last ??= answer.summary;
        after = answer.next;
      } while (after !== null);
      summary = last;
    }
    if (argv.diff)
      for (const item of items.filter((i) => i.verdict === 'mismatch'))
        item.diff = (await control(argv, 'challenge-diff', { hashPart: item.hashPart }, LONG).catch(
          (err: unknown) => ({ error: (err as Error).message }),
        )) as unknown as Item['diff'];
    const shown = argv.verbose ? items : items.filter((i) => i.verdict !== 'reproducible');
    print(argv, { items: shown.map(stripOk), summary }, () => human(shown, summary));
    if (summary.mismatch > 0)
      throw new MismatchFoundError(`${summary.mismatch} path(s) differ between builders`);
  },
};

function stripOk(item: Item): Item {
  if (item.diff === undefined || !('text' in item.diff)) return item;
  const { ok: _ok, ...diff } = item.diff as { text: string; ok?: boolean };
  return { ...item, diff };
}

function human(items: readonly Item[], s: Summary): string {
  const lines: string[] = [];
  for (const item of items) {
    const path = item.storePath ?? item.hashPart;
    if (item.verdict === 'inconclusive') {
      const who = item.logs.map((l) => l.log);
      lines.push(
        `${path} inconclusive: ${who.length === 0 ? 'no followed log built it' : `only ${who.join(', ')} built it`}`,
      );
      continue;
    }
    lines.push(`${path} ${item.verdict === 'mismatch' ? 'contents differ' : 'reproducible'}:`);
    const width = Math.max(...item.logs.map((l) => l.log.length));
    for (const l of item.logs) lines.push(`  ${`${l.log}:`.padEnd(width + 1)} ${l.narHashes.join(' and ')}`);
    if (item.diff !== undefined)
      lines.push(
        ...('text' in item.diff
          ? item.diff.text.trimEnd().split('\n')
          : [`(no diff: ${item.diff.error})`]
        ).map((l) => `  ${l}`),
      );
  }
  if (lines.length > 0) lines.push('');
  // Counts only: the one percentage is the reproducibility rate, defined as everywhere else.
  lines.push(
    `${s.analysed} store item(s) were analysed:`,
    `  - ${s.reproducible} were identical`,
    `  - ${s.mismatch} differed`,
    `  - ${s.inconclusive} were inconclusive (built by one log only)`,
    reproducibilityLine(s),
  );
  return lines.join('\n');
}
