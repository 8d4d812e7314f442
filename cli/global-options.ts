/**
 * Options every command shares, and the data directory they resolve to.
 */
import { resolve } from 'node:path';
import { defaultDataDir } from '../node/data-dir.ts';

export interface GlobalOptions {
  readonly 'data-dir'?: string;
  readonly json: boolean;
}

/** The data directory: --data-dir, else $TRUSTIX_DATA_DIR, else ~/.local/share/trustix. */
export function dataDirOf(argv: GlobalOptions): string {
  return resolve(argv['data-dir'] ?? defaultDataDir());
}
