/**
 * Options every command shares, the run's io (cli/io.ts, in every command's argv), and the data
 * directory they resolve to.
 */
import { join, resolve } from 'node:path';
import { defaultDataDir } from '../node/client.ts';
import type { CliIo } from './io.ts';

export interface GlobalOptions {
  readonly 'data-dir'?: string;
  readonly config?: string;
  readonly json: boolean;
  /** Not an option: the run's streams, environment and signal, handed to yargs as context by cli/main.ts. */
  readonly io: CliIo;
}

/** `path` resolved against the run's working directory. */
export function resolvePath(argv: Pick<GlobalOptions, 'io'>, path: string): string {
  return argv.io.cwd === undefined ? resolve(path) : resolve(argv.io.cwd, path);
}

/** The data directory: --data-dir, else $TRUSTIX_DATA_DIR, else ~/.local/share/trustix. */
export function dataDirOf(argv: Pick<GlobalOptions, 'data-dir' | 'io'>): string {
  return resolvePath(argv, argv['data-dir'] ?? defaultDataDir(argv.io.env));
}

/** The config file: --config (must exist), else `<data dir>/config.json` (optional). */
export function configFileOf(argv: GlobalOptions): { file: string; required: boolean } {
  return argv.config !== undefined
    ? { file: resolvePath(argv, argv.config), required: true }
    : { file: join(dataDirOf(argv), 'config.json'), required: false };
}
