import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { TrustixError } from '../../protocol/errors.ts';
import {
  formatNixSecretKey,
  generateNixSecretKey,
  type NixSecretKey,
  parseNixSecretKey,
} from '../../protocol/keys.ts';
import { defaultKeyName } from '../store/data-dir.ts';
import { createKeyFile, fileExists } from '../store/key-file.ts';

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
  if (!(await fileExists(path))) {
    created = await createKeyFile(path, formatNixSecretKey(generateNixSecretKey(defaultKeyName('peer'))));
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
