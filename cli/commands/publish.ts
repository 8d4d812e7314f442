/**
 * `trustix publish`: one build published by hand. Reads DRV_PATH and OUT_PATHS as Nix sets them
 * (OUT_PATHS is empty in Nix 2.8: then the node resolves the derivation's outputs) and hands them to
 * the running node, returning once they are durably queued. Nix's post-build hook is the spool script
 * (node/own-log/post-build-hook.ts), which never fails a build; this command fails when no node runs.
 */
import type { CommandModule } from 'yargs';
import { submit } from '../../node/client.ts';
import type { Submission } from '../../node/index.ts';
import { controlSocket } from '../control.ts';
import { UsageError } from '../exit-code.ts';
import type { GlobalOptions } from '../global-options.ts';
import { print } from '../output.ts';

export const publishCommand: CommandModule<GlobalOptions, GlobalOptions> = {
  command: 'publish',
  describe: 'Publish the build Nix just finished (post-build hook: reads DRV_PATH and OUT_PATHS)',
  handler: async (argv) => {
    const outPaths = (argv.io.env['OUT_PATHS'] ?? '').split(/\s+/).filter(Boolean);
    const drvPath = argv.io.env['DRV_PATH'] ?? '';
    const submissions: Submission[] =
      outPaths.length > 0
        ? outPaths.map((path) => ({ kind: 'path', path }))
        : drvPath
          ? [{ kind: 'drv', drvPath }]
          : [];
    if (submissions.length === 0)
      throw new UsageError('neither OUT_PATHS nor DRV_PATH is set (run me from Nix)');
    const queued = await submit(controlSocket(argv), submissions);
    print(argv, { queued }, (o) => `queued ${o.queued} submission(s)`);
  },
};
