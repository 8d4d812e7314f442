#!/usr/bin/env node
// `trustix publish` without the CLI: hands DRV_PATH / OUT_PATHS to the running node over its socket and
// returns once the node has durably queued them; exits 1 when no node runs. Not for nix.conf: there a
// failing hook fails the build. Nix's post-build hook is the spool script that `trustix init` writes
// (node/own-log/post-build-hook.ts; docs/guides/builder.md). Environment: DRV_PATH and OUT_PATHS (set by Nix; OUT_PATHS is empty in Nix 2.8),
// TRUSTIX_DATA_DIR (else ~/.local/share/trustix) or TRUSTIX_SOCKET.
import { defaultDataDir, SubmitError, socketPath, submit } from '../../node/socket/submit-client.js';

const drvPath = process.env.DRV_PATH ?? '';
const outPaths = (process.env.OUT_PATHS ?? '').split(/\s+/).filter(Boolean);
const submissions = outPaths.length > 0 ? outPaths.map((path) => ({ kind: 'path', path })) : [];
if (submissions.length === 0 && drvPath) submissions.push({ kind: 'drv', drvPath });
if (submissions.length === 0) {
  process.stderr.write('trustix post-build hook: neither OUT_PATHS nor DRV_PATH is set (run me from Nix)\n');
  process.exit(2);
}
const path = process.env.TRUSTIX_SOCKET || socketPath(defaultDataDir());
try {
  await submit(path, submissions, { timeoutMs: 10_000 });
} catch (err) {
  process.stderr.write(
    `trustix post-build hook: ${err instanceof SubmitError ? err.message : String(err)}\n`,
  );
  process.exit(1);
}
