/**
 * `trustix submit PATH... [--closure]`: publish store paths by hand. The node hashes each path itself
 * and checks the result against Nix's own record before appending it; the command waits for the node's
 * verdict on each path (published, refused and why, or still queued) and exits 3 when any was refused.
 */
import type { Argv, CommandModule } from 'yargs';
import { dataDir, request } from '../../node/client.ts';
import { parseStorePath } from '../../protocol/index.ts';
import { SubmissionRefusedError } from '../exit-code.ts';
import { dataDirOf, type GlobalOptions } from '../global-options.ts';
import { print } from '../output.ts';

interface SubmitArgs extends GlobalOptions {
  readonly paths: string[];
  readonly closure: boolean;
}

export const submitCommand: CommandModule<GlobalOptions, SubmitArgs> = {
  command: 'submit <paths..>',
  describe: 'Publish store paths to the node’s log',
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs
      .positional('paths', { type: 'string', array: true, demandOption: true, describe: 'Store paths' })
      .option('closure', {
        type: 'boolean',
        default: false,
        describe: 'Also publish everything the paths refer to',
      }),
  handler: async (argv) => {
    const paths = argv.paths.map((p) => parseStorePath(p).path);
    // Nix's database is asked only for a closure; the node's door is loaded for that alone.
    const all = argv.closure
      ? await new (await import('../../node/index.ts')).NixStore({ env: argv.io.env }).requisites(paths)
      : paths;
    const answer = await request(
      dataDir(dataDirOf(argv)).socket,
      { op: 'submit', submissions: all.map((path) => ({ kind: 'path' as const, path })), waitMs: WAIT_MS },
      { timeoutMs: WAIT_MS + 10_000, maxAnswerBytes: 64 * 1024 * 1024 },
    );
    const verdicts =
      (answer['verdicts'] as Verdict[] | undefined) ?? all.map((): Verdict => ({ status: 'queued' }));
    const results = all.map((path, i): Verdict & { path: string } => ({ path, ...verdicts[i]! }));
    const refused = results.filter((r) => r.status === 'refused').length;
    print(argv, { queued: answer['queued'] as number, paths: all, results }, (o) =>
      o.results
        .map((r) => `${r.status} ${r.path}${r.error === undefined ? '' : `: ${r.error.message}`}`)
        .join('\n'),
    );
    if (refused > 0) throw new SubmissionRefusedError(`the node refused ${refused} of ${all.length} path(s)`);
  },
};

/** How long the command waits for the node's verdicts; what is not settled by then is reported queued. */
const WAIT_MS = 60_000;

interface Verdict {
  readonly status: 'published' | 'refused' | 'queued';
  readonly error?: { readonly code: string; readonly message: string };
}
