/**
 * `trustix decide PATH... [--json]`: what the running node's vote says about store paths: the values
 * voted for with their logs and weights, the decided one marked with the decider that took it, the logs
 * that say nothing (misses), those that abstain (forked, self-contradicting, overfull), and why each decider of
 * the chain that did not decide did not (text: cli/decision-text.ts). Exit 3 when any path is undecided.
 */
import type { Argv, CommandModule } from 'yargs';
import { control } from '../control.ts';
import { type DecisionJson, decisionText } from '../decision-text.ts';
import { NoConsensusError } from '../exit-code.ts';
import type { FastSpec } from '../fast-path.ts';
import type { GlobalOptions } from '../global-options.ts';
import { print } from '../output.ts';

interface DecideArgs extends GlobalOptions {
  readonly paths: string[];
}

export const decideCommand: CommandModule<GlobalOptions, DecideArgs> & { fast: FastSpec } = {
  command: 'decide <paths..>',
  describe: 'Show the vote for store paths (exit 3 when a path is undecided)',
  fast: { options: {}, positional: 'paths' },
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
      () => decisions.map(decisionText).join('\n\n'),
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
