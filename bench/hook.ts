/**
 * `npm run bench -- hook`: wall time of Nix's post-build hook (the sh script `trustix init` writes,
 * node/own-log/post-build-hook.ts) writing one spool file, against `sh -c true` run beside it, alternating,
 * 50 runs each. Target: the hook's median at most 20 ms above the baseline's. The node is not running:
 * the hook never talks to it. Also in the `log` suite.
 */
import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writePostBuildHook } from '../node/client.ts';
import { tempDir } from '../test/helpers/log-fixture.ts';
import { type Measurement, median, suiteResult } from './harness.ts';

const exec = promisify(execFile);
const RUNS = 50;

export async function run() {
  return suiteResult('hook', [await hookWallTime()]);
}

export async function hookWallTime(): Promise<Measurement> {
  const dir = await tempDir('trustix-bench-hook-');
  try {
    const spool = join(dir, 'spool');
    const hook = join(dir, 'post-build-hook');
    await writePostBuildHook(hook, spool);
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', OUT_PATHS: '' };
    const hookTimes: number[] = [];
    const baseTimes: number[] = [];
    const time = async (fn: () => Promise<unknown>, into: number[]) => {
      const started = performance.now();
      await fn();
      into.push(performance.now() - started);
    };
    for (let i = -1; i < RUNS; i++) {
      const drv = `/nix/store/${'0'.repeat(31)}${'abcdfghijklmnpqrsvwxyz'[(i + 22) % 22]}-bench-${i}.drv`;
      const hookRun = () => exec(hook, [], { env: { ...env, DRV_PATH: drv } });
      const baseRun = () => exec('sh', ['-c', 'true'], { env });
      // One warm-up of each, then alternating, so both see the same load.
      await time(hookRun, i < 0 ? [] : hookTimes);
      await time(baseRun, i < 0 ? [] : baseTimes);
    }
    const files = (await readdir(spool)).length;
    if (files !== RUNS + 1) throw new Error(`the hook left ${files} spool files, expected ${RUNS + 1}`);
    const hookMs = median(hookTimes);
    const baseMs = median(baseTimes);
    return {
      name: 'post-build hook (sh, writes one spool file) wall time',
      median: Number(hookMs.toFixed(2)),
      unit: 'ms',
      runs: hookTimes.length,
      target: 'median <= sh -c true + 20 ms',
      baselineShTrueMs: Number(baseMs.toFixed(2)),
      overBaselineMs: Number((hookMs - baseMs).toFixed(2)),
      ratio: Number((hookMs / baseMs).toFixed(2)),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
