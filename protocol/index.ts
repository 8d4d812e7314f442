/**
 * protocol/: Trustix's pure formats and crypto. Bytes in, values out, typed errors; no I/O, no clock.
 */
export * from './base64.ts';
export * from './checkpoint.ts';
export * from './consistency-proof.ts';
export * from './constants.ts';
export * from './decimal.ts';
export * from './ed25519.ts';
export * from './entry.ts';
export * from './entry-bundle.ts';
export * from './errors.ts';
export * from './evidence.ts';
export * from './gossip-message.ts';
export * from './inclusion-proof.ts';
export * from './keys.ts';
export * from './memory-tree.ts';
export * from './merkle.ts';
export * from './nar.ts';
export * from './nar-tree.ts';
export * from './narinfo.ts';
export * from './narinfo-signature.ts';
export * from './nix-hash.ts';
export * from './nix32.ts';
export * from './note.ts';
export * from './store-path.ts';
export * from './tile-edge.ts';
export * from './tile-hash-reader.ts';
export * from './tile-path.ts';
export * from './tiles.ts';
export * from './utf8.ts';
export * from './vkey.ts';
