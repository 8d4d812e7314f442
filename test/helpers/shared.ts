/**
 * Locates the project's shared data (`../shared` beside the clone). A user's clone has none:
 * tests that need it register one skipped test that says so instead of failing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import test from 'ava';

export const SHARED_DIR = resolve(import.meta.dirname, '..', '..', '..', 'shared');

/** Absolute path of `rel` under ../shared, or undefined when that file or folder is absent. */
export function sharedPath(rel: string): string | undefined {
  const p = join(SHARED_DIR, rel);
  return existsSync(p) ? p : undefined;
}

/**
 * Returns the path of `rel` under ../shared, or registers a skipped test explaining its absence
 * under `title` and returns undefined.
 */
export function requireShared(rel: string, title: string): string | undefined {
  const p = sharedPath(rel);
  if (p === undefined)
    test.skip(`${title}: skipped, ${join('../shared', rel)} is absent (no shared data beside this clone)`, () => {});
  return p;
}

export function readSharedJson<T>(absPath: string): T {
  return JSON.parse(readFileSync(absPath, 'utf8')) as T;
}
