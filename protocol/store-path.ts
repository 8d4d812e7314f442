/**
 * Nix store paths:
 *
 *   /nix/store/xlyi2n3g389xnbz7z77bkdzk3vbfw53d-tv-file
 *   <storeDir>/<hash part: 32 nix32 chars = 20 bytes>-<name>
 *
 * Name rules are Nix's: 1..211 chars of `[A-Za-z0-9+\-._?=]`, not starting with '.'.
 * Narinfos refer to other paths by base name (`<hash part>-<name>`), the HTTP substituter by
 * hash part (`GET /<hash part>.narinfo`).
 */
import { MalformedError } from './errors.ts';
import { isNix32Bytes, isNix32Text } from './nix32.ts';

export const DEFAULT_STORE_DIR = '/nix/store';
/** Chars of the hash part: nix32 of 20 bytes. */
export const STORE_PATH_HASH_CHARS = 32;
/** Nix's limit on the name part (255 minus hash part and dash, with room to spare). */
export const MAX_STORE_PATH_NAME_CHARS = 211;
/** Longest store directory we accept (Nix has no limit; ours keeps every path bounded). */
export const MAX_STORE_DIR_CHARS = 1024;

const NAME_RE = /^[A-Za-z0-9+\-_?=][A-Za-z0-9+\-._?=]*$/;

/** A parsed store path; `path` is `${storeDir}/${hashPart}-${name}`. */
export interface StorePath {
  readonly storeDir: string;
  readonly hashPart: string;
  readonly name: string;
  readonly path: string;
  /** `${hashPart}-${name}`, the form narinfo `References:` and `Deriver:` use. */
  readonly baseName: string;
}

const DIR_SEGMENT_RE = /^[A-Za-z0-9+\-._]+$/;

/**
 * Checks a store directory: absolute, no trailing slash, no `.`/`..` segments, segments of
 * `[A-Za-z0-9+\-._]` only, so `;` and `,` (the separators of fingerprints) never occur in a path.
 */
export function checkStoreDir(storeDir: string): void {
  // Entries name up to ~20 paths in one store dir each: remember the last one that passed.
  if (storeDir === lastValidStoreDir) return;
  if (storeDir.length > MAX_STORE_DIR_CHARS) throw new MalformedError('store dir', 'too long');
  const segments = storeDir.split('/');
  if (segments[0] !== '' || segments.length < 2)
    throw new MalformedError('store dir', `${JSON.stringify(storeDir)} is not absolute`);
  for (const s of segments.slice(1)) {
    if (s === '.' || s === '..' || !DIR_SEGMENT_RE.test(s))
      throw new MalformedError('store dir', `${JSON.stringify(storeDir)} is not a canonical path`);
  }
  lastValidStoreDir = storeDir;
}

let lastValidStoreDir: string | undefined;

/** Validates a hash part (32 nix32 chars) and returns it. */
export function parseHashPart(text: string): string {
  if (text.length !== STORE_PATH_HASH_CHARS || !isNix32Text(text))
    throw new MalformedError('store path hash', `expected ${STORE_PATH_HASH_CHARS} nix32 chars`);
  return text;
}

/** The hash part named by a substituter request `<hash part>.narinfo`. */
export function parseNarinfoFileName(fileName: string): string {
  if (!fileName.endsWith('.narinfo'))
    throw new MalformedError('narinfo file name', 'expected <hash part>.narinfo');
  return parseHashPart(fileName.slice(0, -'.narinfo'.length));
}

/** Validates a store path name part and returns it. */
export function parseStorePathName(name: string): string {
  if (name.length === 0) throw new MalformedError('store path name', 'empty');
  if (name.length > MAX_STORE_PATH_NAME_CHARS)
    throw new MalformedError('store path name', `longer than ${MAX_STORE_PATH_NAME_CHARS} chars`);
  if (!NAME_RE.test(name)) {
    const why = name.startsWith('.') ? 'starts with "."' : 'contains a char outside [A-Za-z0-9+-._?=]';
    throw new MalformedError('store path name', `${JSON.stringify(name)} ${why}`);
  }
  return name;
}

/** Parses `<hash part>-<name>` (a store path without its directory). */
export function parseStoreBaseName(baseName: string, storeDir = DEFAULT_STORE_DIR): StorePath {
  checkStoreDir(storeDir);
  return baseNameIn(baseName, storeDir);
}

function baseNameIn(baseName: string, storeDir: string): StorePath {
  // Cap before any scanning: nothing longer can be valid.
  if (baseName.length > STORE_PATH_HASH_CHARS + 1 + MAX_STORE_PATH_NAME_CHARS)
    throw new MalformedError('store path', 'too long');
  if (baseName[STORE_PATH_HASH_CHARS] !== '-')
    throw new MalformedError('store path', `${JSON.stringify(baseName)} is not <hash>-<name>`);
  const hashPart = parseHashPart(baseName.slice(0, STORE_PATH_HASH_CHARS));
  const name = parseStorePathName(baseName.slice(STORE_PATH_HASH_CHARS + 1));
  return { storeDir, hashPart, name, baseName, path: `${storeDir}/${baseName}` };
}

/** Parses a full store path `<storeDir>/<hash part>-<name>`; the store dir must match exactly. */
export function parseStorePath(path: string, storeDir = DEFAULT_STORE_DIR): StorePath {
  checkStoreDir(storeDir);
  if (path.length > storeDir.length + 1 + STORE_PATH_HASH_CHARS + 1 + MAX_STORE_PATH_NAME_CHARS)
    throw new MalformedError('store path', 'too long');
  if (!path.startsWith(`${storeDir}/`))
    throw new MalformedError('store path', `${JSON.stringify(path)} is not in ${storeDir}`);
  return baseNameIn(path.slice(storeDir.length + 1), storeDir);
}

// Byte -> 1 when it may occur in a name (NAME_RE's second class), for storePathEnd.
const NAME_BYTES = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-._?=')
  NAME_BYTES[c.charCodeAt(0)] = 1;
// The store dir storePathEnd was last given, as bytes (entries name ~10 paths in one store dir).
let dirText = '';
let dirBytes = new Uint8Array(0);
const DOT = 0x2e;
const DASH = 0x2d;
const SLASH = 0x2f;

/**
 * The store path at `bytes[pos..]`, checked in place without decoding (hot paths: every synced entry
 * names ~10 of them): accepts exactly what parseStorePath accepts. The path ends at the first byte that
 * cannot occur in a name (or at the end); returns that offset, or -1 when the path is not valid.
 * `storeDir` must have passed checkStoreDir.
 */
export function storePathEnd(bytes: Uint8Array, pos: number, storeDir: string): number {
  if (storeDir !== dirText) {
    dirBytes = new TextEncoder().encode(storeDir);
    dirText = storeDir;
  }
  const dir = dirBytes;
  const hashAt = pos + dir.length + 1;
  if (hashAt + STORE_PATH_HASH_CHARS + 2 > bytes.length) return -1;
  for (let k = 0; k < dir.length; k++) if (bytes[pos + k] !== dir[k]) return -1;
  if (bytes[hashAt - 1] !== SLASH) return -1;
  if (!isNix32Bytes(bytes, hashAt, hashAt + STORE_PATH_HASH_CHARS)) return -1;
  const nameAt = hashAt + STORE_PATH_HASH_CHARS + 1;
  if (bytes[nameAt - 1] !== DASH || bytes[nameAt] === DOT) return -1;
  const limit = Math.min(bytes.length, nameAt + MAX_STORE_PATH_NAME_CHARS);
  let end = nameAt;
  while (end < limit && NAME_BYTES[bytes[end]!] === 1) end++;
  if (end === nameAt) return -1;
  // A name char right after the longest name: the name is too long.
  if (end < bytes.length && NAME_BYTES[bytes[end]!] === 1) return -1;
  return end;
}

/** The store dir of an already-validated store path (names contain no '/'). */
export function storeDirOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}
