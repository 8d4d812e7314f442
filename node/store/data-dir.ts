/**
 * The data directory: where a node keeps its keys, its LevelDB and its socket.
 *
 *   <dir>/log.secret, log.public       the log key (Nix key format; signs checkpoints)
 *   <dir>/cache.secret, cache.public   the cache key (signs the narinfos the substituter serves)
 *   <dir>/peer.secret                  the libp2p identity (node/network/peer-identity.ts; stable PeerId)
 *   <dir>/db/                          the LevelDB (node/store/layout.ts)
 *   <dir>/queue/                       the submission journal (node/own-log/submission-journal.ts)
 *   <dir>/trustix.sock                 the local submission socket (mode 0600)
 *   <dir>/spool/                       the post-build hook's notes, by default (node/own-log/spool.ts)
 *   <dir>/spool.tmp/                   the hook's temporary files (it creates the directory)
 *   <dir>/post-build-hook              the hook for nix.conf (node/own-log/post-build-hook.ts)
 *
 * Secret key files are created with mode 0600 and never overwritten.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  formatNixPublicKey,
  formatNixSecretKey,
  generateNixSecretKey,
  type LogKey,
  logKeyOf,
  type NixSecretKey,
  parseNixSecretKey,
} from '../../protocol/keys.ts';
import { isValidKeyName } from '../../protocol/vkey.ts';
import { defaultDataDir, socketPath } from '../control/submit-client.js';
import { createKeyFile, fileExists } from './key-file.ts';

export { defaultDataDir };

export interface DataDir {
  readonly dir: string;
  readonly db: string;
  readonly socket: string;
  readonly logSecret: string;
  readonly logPublic: string;
  readonly cacheSecret: string;
  readonly cachePublic: string;
  readonly peerSecret: string;
  /** The default spool (`trustix start --spool` names another). */
  readonly spool: string;
  readonly postBuildHook: string;
}

export function dataDir(dir: string): DataDir {
  return {
    dir,
    db: join(dir, 'db'),
    socket: socketPath(dir),
    logSecret: join(dir, 'log.secret'),
    logPublic: join(dir, 'log.public'),
    cacheSecret: join(dir, 'cache.secret'),
    cachePublic: join(dir, 'cache.public'),
    peerSecret: join(dir, 'peer.secret'),
    spool: join(dir, 'spool'),
    postBuildHook: join(dir, 'post-build-hook'),
  };
}

/** The keys of a node: its log key (and the log's identity) and its cache key. */
export interface NodeKeys {
  readonly logSecret: NixSecretKey;
  readonly log: LogKey;
  readonly cacheSecret: NixSecretKey;
}

export interface InitOptions {
  /** Name of the log key (the checkpoint origin). Default: `<hostname>-1`. */
  readonly name?: string;
  /** An existing Nix secret key file to use as the log key (e.g. from `nix key generate-secret`). */
  readonly keyFile?: string;
}

export interface InitResult extends NodeKeys {
  /** False when the directory already held keys (init is idempotent and never overwrites). */
  readonly created: boolean;
}

/** A default key name from the host name, made valid for a key (no spaces, '+' or ':'). */
export function defaultKeyName(suffix: string): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-') || 'trustix';
  const name = `${host}-${suffix}`;
  return isValidKeyName(name) ? name : `trustix-${suffix}`;
}

/** Creates the data directory and its keys; returns the existing keys if they are already there. */
export async function initDataDir(dir: string, options: InitOptions = {}): Promise<InitResult> {
  const paths = dataDir(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (await fileExists(paths.logSecret)) {
    if (options.keyFile !== undefined || options.name !== undefined) {
      const existing = await loadKeys(dir);
      const wanted =
        options.keyFile !== undefined ? parseNixSecretKey(await readFile(options.keyFile)) : undefined;
      const same =
        (wanted === undefined || Buffer.from(wanted.seed).equals(existing.logSecret.seed)) &&
        (options.name === undefined || options.name === existing.log.name);
      if (!same)
        throw new Error(
          `${dir} already has a different log key; refusing to replace it (use another --data-dir)`,
        );
    }
    return { ...(await loadKeys(dir)), created: false };
  }
  const logSecret =
    options.keyFile !== undefined
      ? parseNixSecretKey(await readFile(options.keyFile))
      : generateNixSecretKey(options.name ?? defaultKeyName('1'));
  const cacheSecret = generateNixSecretKey(`${logSecret.name}-cache`);
  await writeSecret(paths.cacheSecret, formatNixSecretKey(cacheSecret));
  await writeFile(paths.cachePublic, formatNixPublicKey(cacheSecret));
  await writeFile(paths.logPublic, formatNixPublicKey(logSecret));
  // The log secret last: its presence marks a complete init.
  await writeSecret(paths.logSecret, formatNixSecretKey(logSecret));
  return { logSecret, log: logKeyOf(logSecret), cacheSecret, created: true };
}

/** Loads the keys of an initialised data directory. */
export async function loadKeys(dir: string): Promise<NodeKeys> {
  const paths = dataDir(dir);
  if (!(await fileExists(paths.logSecret))) {
    throw new Error(`${dir} has no log key; run 'trustix init --data-dir ${dir}' first`);
  }
  const logSecret = parseNixSecretKey(await readFile(paths.logSecret));
  const cacheSecret = parseNixSecretKey(await readFile(paths.cacheSecret));
  return { logSecret, log: logKeyOf(logSecret), cacheSecret };
}

async function writeSecret(path: string, text: string): Promise<void> {
  if (!(await createKeyFile(path, text)))
    throw new Error(`${path} appeared while initialising; refusing to replace it`);
}
