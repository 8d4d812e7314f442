/**
 * The data directory: where a node keeps its keys, its LevelDB and its socket.
 *
 *   <dir>/log.secret, log.public       the log key (Nix key format; signs checkpoints)
 *   <dir>/cache.secret, cache.public   the cache key (signs the narinfos the substituter serves)
 *   <dir>/witness.secret, .public      the witness key (Nix secret key format; witness.public holds its
 *                                      witness vkey): cosigns checkpoints when witnessing (docs/PROTOCOL.md)
 *   <dir>/peer.secret                  the libp2p identity (node/network/peer-identity.ts; stable PeerId)
 *   <dir>/db/                          the LevelDB (node/store/layout.ts)
 *   <dir>/queue/                       the submission journal (node/own-log/submission-journal.ts)
 *   <dir>/trustix.sock                 the local submission socket (mode 0600)
 *   <dir>/spool/                       the post-build hook's notes, by default (node/own-log/spool.ts)
 *   <dir>/spool.tmp/                   the hook's temporary files (it creates the directory)
 *   <dir>/post-build-hook              the hook for nix.conf (node/own-log/post-build-hook.ts)
 *
 * Secret key files are created with mode 0600 and never overwritten. The directory and its secrets must
 * not be writable (secrets: nor readable) by other users (node/store/file-permissions.ts): checked at
 * init and at every start.
 */
import { constants } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import {
  type WitnessKey,
  type WitnessSigner,
  witnessKey,
  witnessSigner,
} from '../../protocol/cosignature.ts';
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
import { DataDirError, KeyFileError } from '../errors.ts';
import { defaultDataDir, socketPath } from '../socket/submit-client.js';
import { checkPermissions } from './file-permissions.ts';
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
  readonly witnessSecret: string;
  readonly witnessPublic: string;
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
    witnessSecret: join(dir, 'witness.secret'),
    witnessPublic: join(dir, 'witness.public'),
    spool: join(dir, 'spool'),
    postBuildHook: join(dir, 'post-build-hook'),
  };
}

/** The keys of a node: its log key (and the log's identity), its cache key and its witness key. */
export interface NodeKeys {
  readonly logSecret: NixSecretKey;
  readonly log: LogKey;
  readonly cacheSecret: NixSecretKey;
  /** Absent in a data directory made before witness keys (initWitnessKey adds one). */
  readonly witness?: NodeWitnessKey;
}

/** The node's witness key: what it cosigns with, and its public witness vkey. */
export interface NodeWitnessKey {
  readonly signer: WitnessSigner;
  readonly key: WitnessKey;
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
  await checkDataDir(dir, { writable: true });
  if (await fileExists(paths.logSecret)) {
    if (options.keyFile !== undefined || options.name !== undefined) {
      const existing = await loadKeys(dir);
      const wanted =
        options.keyFile !== undefined ? parseNixSecretKey(await readFile(options.keyFile)) : undefined;
      const same =
        (wanted === undefined || Buffer.from(wanted.seed).equals(existing.logSecret.seed)) &&
        (options.name === undefined || options.name === existing.log.name);
      if (!same)
        throw new DataDirError(
          dir,
          'it already has a different log key; refusing to replace it (use another --data-dir)',
        );
    }
    // A directory made before witness keys gets one now (init never replaces a key, it only adds).
    await initWitnessKey(dir, `${(await loadKeys(dir)).log.name}-witness`);
    return { ...(await loadKeys(dir)), created: false };
  }
  // A node's data without its log key: log.secret was lost or moved. A new key would start a new log.
  const leftovers = [paths.cacheSecret, paths.db];
  for (const p of leftovers)
    if (await fileExists(p))
      throw new KeyFileError(
        paths.logSecret,
        `missing, but ${dir} holds a node's data (${p}). Restore log.secret from your backup; ` +
          `to start a new log instead, use another --data-dir (or move ${dir} away)`,
      );
  const logSecret =
    options.keyFile !== undefined
      ? parseNixSecretKey(await readFile(options.keyFile))
      : generateNixSecretKey(options.name ?? defaultKeyName('1'));
  const cacheSecret = generateNixSecretKey(`${logSecret.name}-cache`);
  await writeSecret(paths.cacheSecret, formatNixSecretKey(cacheSecret));
  await writeFile(paths.cachePublic, formatNixPublicKey(cacheSecret));
  await writeFile(paths.logPublic, formatNixPublicKey(logSecret));
  const witness = await initWitnessKey(dir, `${logSecret.name}-witness`);
  // The log secret last: its presence marks a complete init.
  await writeSecret(paths.logSecret, formatNixSecretKey(logSecret));
  return { logSecret, log: logKeyOf(logSecret), cacheSecret, witness, created: true };
}

/**
 * Creates the witness key (mode 0600, never overwritten) unless the data directory has one; returns it.
 * `name` is the witness name (the name in its cosignature lines; default `<log key name>-witness`).
 */
export async function initWitnessKey(dir: string, name?: string): Promise<NodeWitnessKey> {
  const paths = dataDir(dir);
  await checkDataDir(dir, { writable: true });
  if (!(await fileExists(paths.witnessSecret))) {
    const secret = generateNixSecretKey(name ?? defaultKeyName('witness'));
    const created = witnessKeyOf(secret);
    await writeFile(paths.witnessPublic, `${created.key.vkey}\n`);
    // Another init may have won the race: its key stands, ours is dropped.
    if (await createKeyFile(paths.witnessSecret, formatNixSecretKey(secret))) return created;
  }
  return readWitnessKey(paths.witnessSecret);
}

async function readWitnessKey(path: string): Promise<NodeWitnessKey> {
  return witnessKeyOf(await readSecret(path, 'the witness key'));
}

function witnessKeyOf(secret: NixSecretKey): NodeWitnessKey {
  return { signer: witnessSigner(secret.name, secret.seed), key: witnessKey(secret.name, secret.publicKey) };
}

/** Loads the keys of an initialised data directory (after checking its permissions). */
export async function loadKeys(dir: string): Promise<NodeKeys> {
  const paths = dataDir(dir);
  await checkDataDir(dir);
  if (!(await fileExists(paths.logSecret))) {
    throw new KeyFileError(
      paths.logSecret,
      `missing: ${dir} has no log key; run 'trustix init --data-dir ${dir}' first`,
    );
  }
  const logSecret = await readSecret(paths.logSecret, 'the log key');
  const cacheSecret = await readSecret(paths.cacheSecret, 'the cache key');
  const witness = (await fileExists(paths.witnessSecret))
    ? await readWitnessKey(paths.witnessSecret)
    : undefined;
  return { logSecret, log: logKeyOf(logSecret), cacheSecret, ...(witness && { witness }) };
}

/**
 * Refuses (InsecurePermissionsError) a data directory or secret key file that another user could change
 * (or, for a secret, read): anyone who can write there decides what the node signs and runs.
 */
export async function checkDataDir(dir: string, options: { writable?: boolean } = {}): Promise<void> {
  const paths = dataDir(dir);
  if ((await checkPermissions(dir, { what: 'the data directory' })) === undefined) return;
  // A node writes there; reading keys (e.g. `trustix verify` of a backup on read-only media) does not.
  if (options.writable === true) await checkWritable(dir);
  for (const [path, what] of [
    [paths.logSecret, 'the log secret key'],
    [paths.cacheSecret, 'the cache secret key'],
    [paths.peerSecret, 'the peer identity key'],
    [paths.witnessSecret, 'the witness secret key'],
  ] as const)
    await checkPermissions(path, { what, secret: true });
}

async function checkWritable(dir: string): Promise<void> {
  await access(dir, constants.W_OK).catch((cause: NodeJS.ErrnoException) => {
    throw new DataDirError(
      dir,
      cause.code === 'EROFS'
        ? 'the data directory is on a read-only file system; the node writes its store, queue and socket there. Remount it read-write or choose another --data-dir'
        : `the data directory is not writable (${cause.code ?? cause.message}); the node writes its store, queue and socket there`,
      { cause },
    );
  });
}

/** A secret key file, parsed; KeyFileError naming the file, the cause and the fix. */
async function readSecret(path: string, what: string): Promise<NixSecretKey> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new KeyFileError(
      path,
      code === 'ENOENT'
        ? `${what} is missing; restore it from your backup (the data directory is incomplete)`
        : `${what} cannot be read: ${(cause as Error).message}`,
      { cause },
    );
  }
  try {
    return parseNixSecretKey(bytes);
  } catch (cause) {
    throw new KeyFileError(
      path,
      `${what} is corrupt (${(cause as Error).message}); restore it from your backup ` +
        '(a Nix secret key file: NAME:BASE64, one line)',
      { cause },
    );
  }
}

async function writeSecret(path: string, text: string): Promise<void> {
  if (!(await createKeyFile(path, text)))
    throw new DataDirError(dirname(path), `${path} appeared while initialising; refusing to replace it`);
}
