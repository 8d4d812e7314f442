/**
 * `trustix decide PATH... [--json]`: what the running node's vote says about store paths: the decided
 * fingerprint and which decider took it, the logs that agree, those that say otherwise (mismatches),
 * those that say nothing (misses), those that abstain (forked, self-contradicting, overfull), and why each
 * decider of the chain that did not decide did not. Exit 3 when any path is undecided.
 */
import type { Argv, CommandModule } from 'yargs';
import { control } from '../control.ts';
import { NoConsensusError } from '../exit-code.ts';
import type { GlobalOptions } from '../global-options.ts';
import { print } from '../output.ts';

interface DecideArgs extends GlobalOptions {
  readonly paths: string[];
}

interface DecisionJson {
  path: string;
  decided: boolean;
  fingerprint: string | null;
  decider: string | null;
  agreeing: string[];
  mismatches: { log: string; fingerprint: string }[];
  misses: string[];
  abstentions: { log: string; reason: string; fingerprints: string[] }[];
  reasons: string[];
}

export const decideCommand: CommandModule<GlobalOptions, DecideArgs> = {
  command: 'decide <paths..>',
  describe: 'Show the vote for store paths (exit 3 when a path is undecided)',
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs.positional('paths', {
      type: 'string',
      array: true,
      demandOption: true,
      describe: 'Store paths (/nix/store/<hash>-<name>) or their hash parts',
    }) as unknown as Argv<DecideArgs>,
  handler: async (argv) => {
    const decisions: DecisionJson[] = [];
    for (const path of argv.paths)
      decisions.push((await control(argv, 'decide', { path })) as unknown as DecisionJson);
    print(
      argv,
      argv.paths.length === 1 ? stripOk(decisions[0]!) : { decisions: decisions.map(stripOk) },
      () => decisions.map(human).join('\n\n'),
    );
    const undecided = decisions.filter((d) => !d.decided).length;
    if (undecided > 0)
      throw new NoConsensusError(`${undecided} of ${decisions.length} path(s) not decided by the vote`);
  },
};

function stripOk(d: DecisionJson): DecisionJson {
  const { ok: _ok, ...rest } = d as DecisionJson & { ok?: boolean };
  return rest;
}

function human(d: DecisionJson): string {
  const lines = [
    d.decided ? `${d.path}: decided by ${d.decider}` : `${d.path}: NOT decided`,
    ...(d.fingerprint ? [`  value      ${d.fingerprint}`] : []),
    `  agreeing   ${d.agreeing.join(', ') || '-'}`,
  ];
  for (const m of d.mismatches) lines.push(`  mismatch   ${m.log}: ${m.fingerprint}`);
  lines.push(`  misses     ${d.misses.join(', ') || '-'}`);
  for (const a of d.abstentions) lines.push(`  abstains   ${a.log} (${a.reason})`);
  for (const r of d.reasons) lines.push(`  not by     ${r}`);
  return lines.join('\n');
}
