/**
 * The unpacking of test/fixtures/nix/trees.tar (git keeps no empty dirs, so the tar is the source).
 * Tests read the unpacked trees through node/own-log/nar-fs.ts, the production adapter.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NIX_FIXTURES } from './nix-fixtures.ts';

/** Unpacks trees.tar into a fresh temp dir; returns it and a cleanup function. */
export async function unpackTrees(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'trustix-nix-trees-'));
  execFileSync('tar', ['-xf', join(NIX_FIXTURES, 'trees.tar'), '-C', dir]);
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
