/**
 * protocol/'s door: Trustix's pure formats and crypto, as cli/, bench/ and bootstrap/ use them. Bytes in,
 * values out, typed errors; no I/O, no clock. Helpers used only inside protocol/ stay behind it.
 */
export { openCheckpoint, type SignedCheckpoint, signCheckpoint } from './checkpoint.ts';
export { verifyConsistency } from './consistency-proof.ts';
export { CHECKPOINT_TOPIC, RELAY_RESERVATIONS, TILES_PROTOCOLS } from './constants.ts';
export { signBytes, signingKeyFromSeed, verifyBytes, verifyingKey } from './ed25519.ts';
export { parseEntry } from './entry.ts';
export { MalformedError, VerificationError } from './errors.ts';
export { formatCheckpointMessage } from './gossip-message.ts';
export { verifyInclusion } from './inclusion-proof.ts';
export {
  formatNixPublicKey,
  generateNixSecretKey,
  type LogKey,
  logKeyOf,
  logSigner,
  type NixPublicKey,
  nixSecretKeyFromSeed,
  parseLogKey,
  parseNixPublicKey,
} from './keys.ts';
export { MemoryTree } from './memory-tree.ts';
export { type Hash, leafHash, nodeHash, rootFromLeafHashes } from './merkle.ts';
export { narHash } from './nar.ts';
export { memoryDirectory, memoryFile, type NarNode } from './nar-tree.ts';
export { formatNarinfo, parseNarinfo } from './narinfo.ts';
export { narinfoFingerprint } from './narinfo-signature.ts';
export { encodeNix32 } from './nix32.ts';
export { parseStorePath } from './store-path.ts';
