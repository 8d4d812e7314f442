/**
 * Test-only entry: `import-cache` behind the same global options and exit-code mapping as cli/main.ts,
 * for as long as cli/main.ts does not register the command (test/cache-import.test.ts picks the real
 * `cli/bin/trustix.js` once it does).
 */
import yargs, { type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { importCacheCommand } from '../../cli/commands/import-cache.ts';
import { ExitCode, exitCodeFor } from '../../cli/exit-code.ts';
import type { GlobalOptions } from '../../cli/global-options.ts';

let code: number = ExitCode.ok;
try {
  await yargs(hideBin(process.argv))
    .option('data-dir', { type: 'string' })
    .option('config', { type: 'string' })
    .option('json', { type: 'boolean', default: false })
    .command(importCacheCommand as CommandModule<GlobalOptions, never>)
    .demandCommand(1)
    .strict()
    .fail((message, err) => {
      throw err ?? Object.assign(new Error(message), { usage: true });
    })
    .parseAsync();
} catch (err) {
  process.stderr.write(`trustix: ${err instanceof Error ? err.message : String(err)}\n`);
  code = (err as { usage?: boolean }).usage ? ExitCode.usage : exitCodeFor(err);
}
process.exitCode = code;
