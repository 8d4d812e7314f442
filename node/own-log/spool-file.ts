/**
 * A spool file: the note the post-build hook (node/own-log/post-build-hook.ts) leaves for the node after
 * each build, three lines of ASCII, each ending in '\n', exactly as Nix set the two variables:
 *
 *   trustix-spool 1
 *   DRV_PATH=/nix/store/…-hello-2.12.drv
 *   OUT_PATHS=/nix/store/…-hello-2.12 /nix/store/…-hello-2.12-man
 *
 * Either value may be empty, not both (in Nix 2.8 OUT_PATHS is always empty). The output paths, when
 * present, are submitted as paths; else the derivation is, and the node asks Nix for its outputs, as
 * `trustix publish` does. The spool is input from outside the node: the parse is strict (one spelling,
 * store paths checked, no duplicates) and capped at MAX_SPOOL_FILE_BYTES.
 */
import { MalformedError, TooLargeError } from '../../protocol/errors.ts';
import { DEFAULT_STORE_DIR, parseStorePath } from '../../protocol/store-path.ts';
import type { Submission } from './queued-record.ts';

/** Largest spool file: far above a derivation with many outputs (a store path is at most ~250 bytes). */
export const MAX_SPOOL_FILE_BYTES = 64 * 1024;

export const SPOOL_FILE_HEADER = 'trustix-spool 1';

const WHAT = 'spool file';

/** The submissions a spool file stands for. Throws MalformedError (TooLargeError) naming the fault. */
export function parseSpoolFile(bytes: Uint8Array, storeDir = DEFAULT_STORE_DIR): Submission[] {
  if (bytes.length > MAX_SPOOL_FILE_BYTES) throw new TooLargeError(WHAT, bytes.length, MAX_SPOOL_FILE_BYTES);
  for (const byte of bytes)
    if (byte !== 0x0a && (byte < 0x20 || byte > 0x7e))
      throw new MalformedError(WHAT, `byte 0x${byte.toString(16).padStart(2, '0')} is not printable ASCII`);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const lines = text.split('\n');
  if (lines.length !== 4 || lines[3] !== '')
    throw new MalformedError(WHAT, 'not three lines each ending in a newline');
  if (lines[0] !== SPOOL_FILE_HEADER)
    throw new MalformedError(WHAT, `first line is not ${JSON.stringify(SPOOL_FILE_HEADER)}`);
  const drvPath = variable(lines[1]!, 'DRV_PATH');
  const outPaths = variable(lines[2]!, 'OUT_PATHS');
  if (drvPath === '' && outPaths === '')
    throw new MalformedError(WHAT, 'DRV_PATH and OUT_PATHS are both empty');
  if (drvPath !== '') {
    const drv = parseStorePath(drvPath, storeDir);
    if (!drv.name.endsWith('.drv')) throw new MalformedError(WHAT, `DRV_PATH ${drvPath} is not a .drv`);
  }
  if (outPaths === '') return [{ kind: 'drv', drvPath }];
  const paths = outPaths.split(' ');
  for (const path of paths) parseStorePath(path, storeDir);
  if (new Set(paths).size !== paths.length)
    throw new MalformedError(WHAT, 'OUT_PATHS names a path twice (or holds a double space)');
  return paths.map((path) => ({ kind: 'path', path }));
}

/** The text a spool file holds for these values (what the hook's printf writes). */
export function formatSpoolFile(drvPath: string, outPaths: string): string {
  return `${SPOOL_FILE_HEADER}\nDRV_PATH=${drvPath}\nOUT_PATHS=${outPaths}\n`;
}

function variable(line: string, name: string): string {
  if (!line.startsWith(`${name}=`))
    throw new MalformedError(WHAT, `expected a line ${name}=…, got ${JSON.stringify(line.slice(0, 40))}`);
  return line.slice(name.length + 1);
}
