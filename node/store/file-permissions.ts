/**
 * Files that can change what the node executes or trusts (the data directory, its keys, the config file,
 * a `script` decider) must not be writable by other users (docs/SECURITY.md), checked like sshd's
 * StrictModes: refused when group- or world-writable, or owned by another user than the node's (root
 * may own them). Secret keys must not be readable by others either.
 */
import { stat } from 'node:fs/promises';
import { InsecurePermissionsError } from '../errors.ts';

export interface PermissionCheck {
  /** What the file is, for the message ("the data directory", "the config file"). */
  readonly what: string;
  /** A secret: refused when group or others may read it too. */
  readonly secret?: boolean;
}

/**
 * Throws InsecurePermissionsError naming `path`, the cause and the fix; nothing when the file is safe.
 * A missing file is not this check's business (undefined); other stat failures are thrown.
 */
export async function checkPermissions(path: string, check: PermissionCheck): Promise<true | undefined> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const uid = process.getuid?.();
  const mode = Number(st.mode) & 0o777;
  const octal = `0${mode.toString(8).padStart(3, '0')}`;
  if (uid !== undefined && st.uid !== uid && st.uid !== 0)
    throw new InsecurePermissionsError(
      path,
      `${check.what} is owned by uid ${st.uid}, not by the user running trustix (uid ${uid}) or root; ` +
        `another user could change it. Fix: chown ${uid} ${path} (or run trustix as its owner)`,
    );
  const forbidden = check.secret === true ? 0o077 : 0o022;
  if ((mode & forbidden) !== 0) {
    const fixMode = check.secret === true ? 'go-rwx' : 'go-w';
    const who = check.secret === true ? 'readable or writable' : 'writable';
    throw new InsecurePermissionsError(
      path,
      `${check.what} is ${who} by group or others (mode ${octal}); another local user could change ` +
        `what the node runs or trusts. Fix: chmod ${fixMode} ${path}`,
    );
  }
  return true;
}
