/**
 * Nix's post-build hook: a POSIX sh script that `trustix init` and `trustix start` write into the data
 * directory, with the spool's absolute path in it (Nix runs the hook with no arguments and the daemon's
 * environment, so it cannot be told where the spool is). It starts no Node.js and talks to no socket:
 * it writes one spool file (node/own-log/spool-file.ts) and exits 0, also when the node is down and
 * also when the spool cannot be written (it then says so on stderr): a build never fails or waits
 * because of Trustix.
 *
 * The file is written under a temporary name in `<spool>.tmp`, a directory of the hook's own user, and
 * renamed into the spool, so the node never sees a partial file. Not in the spool itself: with the Nix
 * daemon the hook runs as root while the spool belongs to the node's user, who could otherwise put a
 * symlink where root is about to write (a rename replaces a symlink instead of following it).
 * docs/guides/builder.md says how to lay the two directories out for the daemon.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { SPOOL_FILE_HEADER } from './spool-file.ts';

/** The directory the hook writes its temporary files in: beside the spool, on the same file system. */
export function spoolTempDir(spoolDir: string): string {
  return `${spoolDir}.tmp`;
}

/** The hook's text for the spool `spoolDir` (an absolute path). */
export function postBuildHookScript(spoolDir: string): string {
  if (!isAbsolute(spoolDir) || /[\n\0]/.test(spoolDir))
    throw new RangeError(
      `the spool must be an absolute path without newlines, got ${JSON.stringify(spoolDir)}`,
    );
  const [header, version] = SPOOL_FILE_HEADER.split(' ');
  return `#!/bin/sh
# Trustix post-build hook, written by \`trustix init\` and \`trustix start\` (docs/guides/builder.md).
# Nix runs it after every build and waits for it: it only leaves a note of the build (DRV_PATH and
# OUT_PATHS) in the node's spool and exits 0 whatever happens, so that no build fails or waits because
# of Trustix. The node publishes what the spool holds whenever it runs.
spool=${shellQuote(spoolDir)}
tmp=${shellQuote(spoolTempDir(spoolDir))}
warn() { printf 'trustix post-build hook: %s\\n' "$1" >&2; exit 0; }
case "$DRV_PATH$OUT_PATHS" in
'') warn 'neither DRV_PATH nor OUT_PATHS is set (run me from Nix)' ;;
*'
'*) warn 'DRV_PATH or OUT_PATHS holds a newline: not recorded' ;;
esac
umask 022
name=\${DRV_PATH##*/}
name=\${name:-build}.$$
[ -d "$tmp" ] || mkdir -m 700 -- "$tmp" 2>/dev/null
if printf '${header} ${version}\\nDRV_PATH=%s\\nOUT_PATHS=%s\\n' "$DRV_PATH" "$OUT_PATHS" 2>/dev/null >"$tmp/$name" &&
  mv -f -- "$tmp/$name" "$spool/" 2>/dev/null; then
  exit 0
fi
rm -f -- "$tmp/$name" 2>/dev/null
warn "cannot write to the spool $spool: this build is not published (DRV_PATH=$DRV_PATH trustix publish does it by hand)"
`;
}

/**
 * Creates the spool if missing (mode 0700: the node's own; root, which runs the hook under the Nix
 * daemon, writes into it all the same) and writes the hook for it to `file` (mode 0755), atomically,
 * unless the file already holds exactly that. True when it wrote the hook.
 */
export async function writePostBuildHook(file: string, spoolDir: string): Promise<boolean> {
  const text = postBuildHookScript(spoolDir);
  await mkdir(spoolDir, { recursive: true, mode: 0o700 });
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === text) return false;
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, text, { mode: 0o755, flag: 'wx' });
  await rename(temp, file);
  return true;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
