/**
 * Options every command shares, and the data directory they resolve to.
 */
import { join, resolve } from 'node:path';
import { defaultDataDir } from '../node/store/data-dir.ts';

export interface GlobalOptions {
  readonly 'data-dir'?: string;
  readonly config?: string;
  readonly json: boolean;
}

/** The data directory: --data-dir, else $TRUSTIX_DATA_DIR, else ~/.local/share/trustix. */
export function dataDirOf(argv: GlobalOptions): string {
  return resolve(argv['data-dir'] ?? defaultDataDir());
}

/** The config file: --config (must exist), else `<data dir>/config.json` (optional). */
export function configFileOf(argv: GlobalOptions): { file: string; required: boolean } {
  return argv.config !== undefined
    ? { file: resolve(argv.config), required: true }
    : { file: join(dataDirOf(argv), 'config.json'), required: false };
}
