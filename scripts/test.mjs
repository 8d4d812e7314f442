#!/usr/bin/env node
// Runs ava with its TAP reporter and closes with the one line CI reads:
// `N passed, N failed, N skipped`. ava's own closing line has another shape.
// Extra arguments (test files, --match) are passed through to ava.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const child = spawn(
  process.execPath,
  ['node_modules/ava/entrypoints/cli.mjs', '--tap', ...process.argv.slice(2)],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const counts = { pass: 0, fail: 0, skip: 0, todo: 0 };
const lines = createInterface({ input: child.stdout });
lines.on('line', (line) => {
  process.stdout.write(`${line}\n`);
  const m = /^# (pass|fail|skip|todo) (\d+)$/.exec(line);
  if (m) counts[m[1]] = Number(m[2]);
});
child.on('close', (code) => {
  process.stdout.write(`\n${counts.pass} passed, ${counts.fail} failed, ${counts.skip} skipped\n`);
  process.exitCode = code ?? 1;
});
