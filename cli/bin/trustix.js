#!/usr/bin/env node
// Entry point of the `trustix` command, and the only part of it that touches `process`: it runs
// cli/main.ts (the compiled build in dist/ when it matches the sources, see scripts/build.mjs, else the
// TypeScript sources through tsx) with the process's arguments, streams and environment, and sets the
// exit code main returns.
//
// SIGINT and SIGTERM become the run's AbortSignal, caught only once a command reads it (those that run
// until stopped): any other command still ends at once on Ctrl-C. A second signal quits at once, without
// cleaning up.
import { compiledUrl } from '../../scripts/build.mjs';

const compiled = compiledUrl('cli/main.ts');
let loaded;
if (compiled !== undefined) loaded = await import(compiled);
else {
  const { register } = await import('tsx/esm/api');
  register();
  loaded = await import('../main.ts');
}

let controller;
function onSignal(signal) {
  if (!controller.signal.aborted) return controller.abort(signal);
  process.stderr.write(`${signal} again: quitting without cleaning up\n`);
  process.exit(130);
}

const io = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  get signal() {
    if (controller === undefined) {
      controller = new AbortController();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    return controller.signal;
  },
};

process.exitCode = await loaded.main(process.argv.slice(2), io);
if (controller !== undefined) {
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}
