#!/usr/bin/env node
// Runs ava and closes with the one line CI reads: `N passed, N failed, N skipped`.
// ava's own summary has another shape, and its TAP reporter crashes on a test timeout (ava 7), so this
// reads the default reporter's summary lines. Extra arguments (files, --match) are passed to ava.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const child = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'pipe'],
  // TRUSTIX_LOCAL_ONLY: no test node contacts anything but the addresses it is given (docs/CLI.md).
  env: { ...process.env, FORCE_COLOR: '0', TRUSTIX_LOCAL_ONLY: '1' },
});
const counts = { passed: 0, failed: 0, skipped: 0, todo: 0, 'known failure': 0, 'timed out': 0, stray: 0 };
let passedLines = 0;
for (const stream of [child.stdout, child.stderr]) {
  const out = stream === child.stdout ? process.stdout : process.stderr;
  createInterface({ input: stream }).on('line', (line) => {
    out.write(`${line}\n`);
    // "  842 tests passed", "  1 test failed", "  2 tests skipped", "  1 known failure", "  1 test todo"
    // ava prints no "passed" count when something failed: count the passing tests' lines instead.
    if (/^\s+✔ /.test(line)) passedLines++;
    const m = /^\s+(\d+) (?:tests? )?(passed|failed|skipped|todo|known failures?)$/.exec(line);
    if (m) {
      counts[m[2].startsWith('known') ? 'known failure' : m[2]] = Number(m[1]);
    }
    // "  1 test remained pending after a timeout": those count as failed.
    const pending = /^\s+(\d+) tests? remained pending after a timeout$/.exec(line);
    if (pending) counts['timed out'] += Number(pending[1]);
    // "  1 unhandled rejection", "  2 uncaught exceptions": a test process went wrong; each counts as failed.
    const stray = /^\s+(\d+) (?:unhandled rejections?|uncaught exceptions?)$/.exec(line);
    if (stray) counts.stray += Number(stray[1]);
  });
}
child.on('close', (code) => {
  // A run that ava ended with an error but no failed test (no summary after a crash, or an unhandled
  // rejection or uncaught exception, which ava reports beside a summary of passes) failed once more.
  const counted = counts.failed + counts['known failure'] + counts['timed out'] + counts.stray;
  const failed = counted + (code !== 0 && counted === 0 ? 1 : 0);
  if (code !== 0 && counted === 0) process.stderr.write(`ava exited with code ${code} and no failed test\n`);
  const passed = Math.max(counts.passed, passedLines);
  process.stdout.write(`\n${passed} passed, ${failed} failed, ${counts.skipped} skipped\n`);
  process.exitCode = code ?? 1;
});
