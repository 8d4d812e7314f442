/**
 * The persisted libp2p identity of a node. libp2p 3 does not store its own key, so without this the
 * PeerId would change on every restart (and with it the node's DHT position and bootstrap addresses).
 *
 * The key is an Ed25519 key kept in `<data-dir>/peer.secret` in Nix's secret key format
 * `NAME:base64(seed32 || pub32)`, mode 0600, created once and never overwritten. libp2p's key is built
 * from the seed alone; the stored public half is only checked against it (a mismatch is refused).
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { TrustixError } from '../protocol/errors.ts';
import {
  formatNixSecretKey,
  generateNixSecretKey,
  type NixSecretKey,
  parseNixSecretKey,
} from '../protocol/keys.ts';
import { defaultKeyName } from './data-dir.ts';

const log = logger('trustix:peer-identity');

/** File name of the libp2p identity inside the data directory. */
export const PEER_SECRET_FILE = 'peer.secret';

/** A peer.secret that cannot be read, parsed, or whose public half does not match its seed. */
export class PeerIdentityError extends TrustixError {
  readonly path: string;

  constructor(path: string, message: string, options?: ErrorOptions) {
    super('ERR_PEER_IDENTITY', `${path}: ${message}`, options);
    this.path = path;
  }
}

export interface PeerIdentity {
  /** The libp2p private key, for `createLibp2pNode({ privateKey })`. */
  readonly privateKey: PrivateKey;
  readonly peerId: PeerId;
  /** Where the key lives. */
  readonly path: string;
  /** True when this call created the key file. */
  readonly created: boolean;
}

/** Path of the identity file of the data directory `dir`. */
export function peerSecretPath(dir: string): string {
  return join(dir, PEER_SECRET_FILE);
}

/**
 * Loads the node's libp2p identity from `dir`, creating it on first use. Two processes racing to
 * create it end with the same key: creation is an atomic no-overwrite link of a complete file.
 */
export async function loadOrCreatePeerIdentity(dir: string): Promise<PeerIdentity> {
  const path = peerSecretPath(dir);
  let created = false;
  if (!(await exists(path))) {
    created = await createKeyFile(path, generateNixSecretKey(defaultKeyName('peer')));
    if (created) log('created libp2p identity in %s', path);
  }
  const identity = await loadPeerIdentity(path);
  return { ...identity, created };
}

/** Loads an existing identity file (Nix secret key format). */
export async function loadPeerIdentity(path: string): Promise<PeerIdentity> {
  let key: NixSecretKey;
  try {
    // parseNixSecretKey derives the public key from the seed and refuses a file whose stored half differs.
    key = parseNixSecretKey(await readFile(path));
  } catch (err) {
    throw new PeerIdentityError(path, `not a usable libp2p identity: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) log.error('%s is readable by others (mode %o); it should be 0600', path, mode);
  const { privateKey, peerId } = await libp2pKeyOf(key, path);
  return { privateKey, peerId, path, created: false };
}

/** The libp2p key of a Nix secret key: built from the seed, checked against the Nix-derived public key. */
export async function libp2pKeyOf(
  key: NixSecretKey,
  where = 'peer key',
): Promise<{ privateKey: PrivateKey; peerId: PeerId }> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', key.seed);
  if (!Buffer.from(privateKey.publicKey.raw).equals(key.publicKey))
    throw new PeerIdentityError(where, 'libp2p derives another public key from this seed');
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey) };
}

/** Writes `key` to `path` unless a file is already there; false when another writer won. */
async function createKeyFile(path: string, key: NixSecretKey): Promise<boolean> {
  // A complete, synced temporary file linked into place: a crash never leaves a half-written key,
  // and link() fails with EEXIST rather than replace a key that appeared meanwhile.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const file = await open(tmp, 'wx', 0o600);
  try {
    await file.writeFile(formatNixSecretKey(key));
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await chmod(tmp, 0o600);
    await link(tmp, path);
    await syncDir(dirname(path));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** Makes a new directory entry durable (a lost entry would mean a new PeerId after a crash). */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
