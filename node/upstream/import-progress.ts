/**
 * The saved progress of a cache import (`<data-dir>/imports/<sha256(url)>.json`): how far through the
 * sorted listing it got, and what it refused so far. Written atomically (write, then rename), so a crash
 * leaves the old state or the new one. Progress that belongs to another import (other keys, other
 * listing) is ignored.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { logger } from '@libp2p/logger';

const log = logger('trustix:cache-import');

export const STATE_VERSION = 1;

/** Why a cache entry was not imported. */
export type RefusalReason =
  | 'not-found'
  | 'malformed'
  | 'wrong-path'
  | 'unsigned'
  | 'untrusted-key'
  | 'bad-signature';

export interface Refusal {
  readonly hashPart: string;
  /** The path the narinfo claims, when it parsed that far. */
  readonly storePath?: string;
  readonly reason: RefusalReason;
  readonly message: string;
}

export interface ImportState {
  readonly version: number;
  readonly url: string;
  readonly source: string;
  readonly keys: readonly string[];
  /** Every listed hash part <= cursor is done. */
  cursor: string;
  refused: number;
  refusedByReason: Partial<Record<RefusalReason, number>>;
  refusals: Refusal[];
}

/** The saved state when it belongs to this import (same URL, keys and listing source). */
export async function loadState(file: string, fresh: ImportState): Promise<ImportState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const s = JSON.parse(text) as ImportState;
    const same =
      s.version === STATE_VERSION &&
      s.url === fresh.url &&
      s.source === fresh.source &&
      JSON.stringify(s.keys) === JSON.stringify(fresh.keys) &&
      typeof s.cursor === 'string' &&
      Number.isSafeInteger(s.refused) &&
      Array.isArray(s.refusals) &&
      s.refusedByReason !== null &&
      typeof s.refusedByReason === 'object';
    if (same) return s;
    log('%s belongs to another import (keys or paths changed): starting over', file);
  } catch {
    log('%s is unreadable: starting over', file);
  }
  return undefined;
}

export async function saveState(file: string, state: ImportState): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  // Write then rename: a crash leaves the old state or the new one, never half of one.
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, file);
}
