/**
 * `trustix import-cache URL --key NAME:BASE64 [--key ...] [--paths FILE] [--concurrency N] [--restart]`:
 * let an existing binary cache vouch for its history. Every narinfo signed by one of the keys becomes
 * an entry of the running node's log; the others are refused one by one. Resumable: a rerun continues
 * where an interrupted one stopped. Exit 0 when all imported, 3 when some were refused, 1 on errors.
 */
import { access, readFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { dataDir, NodeUnavailableError } from '../../node/client.ts';
import { type ImportProgress, type ImportSummary, importCache, submitSink } from '../../node/index.ts';
import { type NixPublicKey, parseNixPublicKey, VerificationError } from '../../protocol/index.ts';
import { UsageError } from '../exit-code.ts';
import { dataDirOf, type GlobalOptions } from '../global-options.ts';
import type { CliOutput } from '../io.ts';
import { print } from '../output.ts';
import { Progress } from '../progress.ts';

interface ImportCacheArgs extends GlobalOptions {
  readonly url: string;
  readonly key: readonly string[];
  readonly paths?: string;
  readonly concurrency: number;
  readonly timeout: number;
  readonly restart: boolean;
}

const MAX_PRINTED_REFUSALS = 20;

export const importCacheCommand: CommandModule<GlobalOptions, ImportCacheArgs> = {
  command: 'import-cache <url>',
  describe: 'Import the signed narinfos of a binary cache (file:// or http(s)://) into the log',
  builder: (yargs: Argv<GlobalOptions>) =>
    yargs
      .positional('url', { type: 'string', demandOption: true, describe: 'Binary cache URL' })
      .option('key', {
        type: 'string',
        array: true,
        demandOption: true,
        describe:
          'Trusted public key NAME:BASE64, or a file holding one (repeatable); narinfos signed by none are refused',
      })
      .option('paths', {
        type: 'string',
        describe: 'File of store paths or hash parts to import (for caches without a directory index)',
      })
      .option('concurrency', { type: 'number', default: 8, describe: 'Narinfo fetches in flight' })
      .option('timeout', { type: 'number', default: 10, describe: 'Seconds allowed per request' })
      .option('restart', { type: 'boolean', default: false, describe: 'Forget saved progress, start over' }),
  handler: async (argv) => {
    const keys = await Promise.all(argv.key.map(readKey));
    if (!Number.isSafeInteger(argv.concurrency) || argv.concurrency < 1 || argv.concurrency > 256)
      throw new UsageError('--concurrency must be an integer from 1 to 256');
    if (!(argv.timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds');
    const paths = argv.paths !== undefined ? await readArgFile(argv.paths, '--paths') : undefined;
    const dir = dataDirOf(argv);
    const { socket } = dataDir(dir);
    // Fail before fetching anything when there is no node to hand entries to.
    await access(socket).catch(() => {
      throw new NodeUnavailableError(
        `no trustix node is running for ${dir} (start one with 'trustix start')`,
      );
    });

    const view = new ProgressView(argv.json, argv.io.stderr);
    const abort = new AbortController();
    const onSignal = () => abort.abort(new Error('interrupted'));
    argv.io.signal?.addEventListener('abort', onSignal, { once: true });
    let summary: ImportSummary;
    try {
      summary = await importCache({
        url: argv.url,
        keys,
        sink: submitSink(socket),
        dataDir: dir,
        ...(paths !== undefined ? { paths } : {}),
        concurrency: argv.concurrency,
        restart: argv.restart,
        signal: abort.signal,
        onProgress: (p) => view.update(p),
        cache: { timeoutMs: Math.round(argv.timeout * 1000) },
      });
    } catch (err) {
      view.end();
      if (abort.signal.aborted)
        throw new Error('interrupted; progress is saved: run the same command again to continue');
      throw err;
    } finally {
      argv.io.signal?.removeEventListener('abort', onSignal);
    }
    view.end();
    print(argv, summary, formatSummary);
    if (summary.refused > 0)
      throw new VerificationError('cache import', `${summary.refused} narinfo(s) refused`);
  },
};

/** `NAME:BASE64`, or the path of a public key file in that form (key names contain no ':'). */
async function readKey(value: string): Promise<NixPublicKey> {
  return parseNixPublicKey(value.includes(':') ? value : (await readArgFile(value, '--key')).trim());
}

async function readArgFile(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${option} ${path}: ${(err as Error).message}`);
  }
}

function formatSummary(s: ImportSummary): string {
  const lines = [
    `${s.url}: ${s.listed} narinfo(s) listed; imported ${s.imported}, skipped ${s.skipped} (done earlier), refused ${s.refused}`,
  ];
  if (s.listed === 0)
    lines.push('Nothing listed: if the cache serves no directory index, name the paths with --paths FILE.');
  if (s.refused > 0) {
    const byReason = Object.entries(s.refusedByReason).map(([reason, n]) => `${reason} ${n}`);
    lines.push(`Refused (${byReason.join(', ')}):`);
    for (const r of s.refusals.slice(0, MAX_PRINTED_REFUSALS))
      lines.push(`  ${r.storePath ?? r.hashPart}: ${r.reason}: ${r.message}`);
    if (s.refused > MAX_PRINTED_REFUSALS)
      lines.push(`  ... and ${s.refused - MAX_PRINTED_REFUSALS} more (--json lists up to 1000)`);
  }
  return lines.join('\n');
}

/** import-cache's view of the generic progress bar. */
class ProgressView {
  private readonly progress: Progress;
  private readonly tty: boolean;

  constructor(json: boolean, stderr: CliOutput) {
    this.progress = new Progress('import-cache', json, stderr);
    this.tty = stderr.isTTY === true;
  }

  update(p: ImportProgress): void {
    // Plain lines only when a page is recorded (what a rerun would resume from).
    if (!this.tty && p.kind === 'narinfo') return;
    const last = p.kind === 'listed' || (p.kind === 'page' && p.done === p.listed);
    this.progress.update(
      p.done,
      p.listed,
      `imported ${p.imported}  refused ${p.refused}  skipped ${p.skipped}`,
      last,
    );
  }

  end(): void {
    this.progress.end();
  }
}
