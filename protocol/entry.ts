/**
 * A log entry: exactly the Nix narinfo fingerprint, UTF-8, no newline (docs/PROTOCOL.md "Log entries").
 *
 *   1;/nix/store/p71n3zfc08rfn8pgxvagiljgy07mirnn-tv-withref;sha256:1lic8kbv2z29j69yw36rsj9fvjs2pf2r2825vrxclqnxhrprh836;592;/nix/store/xlyi2n3g389xnbz7z77bkdzk3vbfw53d-tv-file,/nix/store/xmgdqbifdj4h0d11krqwvz18sfwc35c9-tv-dir
 *   1;/nix/store/xlyi2n3g389xnbz7z77bkdzk3vbfw53d-tv-file;sha256:0k7nyapk1y0cjxh60wx664mmpgri8lrrxmv1jgfplp4f68ylw8pp;128;
 *
 * Fields: `1` (the entry kind; others would use another first field); the store path; the NAR hash
 * as `sha256:` + 52 canonical nix32 chars; the NAR size in decimal (positive, no leading zeros,
 * at most 2^53-1); the full reference paths joined by `,`, strictly ascending (ends in `;` when
 * none). At most MAX_ENTRY_BYTES. Nix signs this same string, so an upstream narinfo and a log entry
 * compare byte for byte: an entry has exactly one spelling.
 */
import { MAX_ENTRY_BYTES } from './constants.ts';
import { parseDecimal } from './decimal.ts';
import { MalformedError } from './errors.ts';
import { formatSha256, parseCanonicalSha256 } from './nix-hash.ts';
import { isNix32Bytes } from './nix32.ts';
import { checkStoreDir, DEFAULT_STORE_DIR, parseStorePath, storeDirOf, storePathEnd } from './store-path.ts';
import { boundedText } from './utf8.ts';

export interface Entry {
  /** Full store path. */
  readonly storePath: string;
  /** The 32 bytes of the NAR's SHA-256. */
  readonly narHash: Uint8Array;
  readonly narSize: number;
  /** Full store paths, sorted ascending (byte order; store paths are ASCII). */
  readonly references: readonly string[];
}

const WHAT = 'entry';
const KIND = '1';

/**
 * Parses an entry strictly and canonically; every store path must be in `storeDir`.
 * Throws TooLargeError over MAX_ENTRY_BYTES (before reading), MalformedError otherwise.
 */
export function parseEntry(input: Uint8Array | string, storeDir = DEFAULT_STORE_DIR): Entry {
  const text = boundedText(input, WHAT, MAX_ENTRY_BYTES);
  if (/[\r\n]/.test(text)) throw new MalformedError(WHAT, 'contains a line break');
  // Store paths contain neither ';' nor ',' (store-path.ts), so splitting is exact.
  const fields = text.split(';');
  if (fields.length !== 5)
    throw new MalformedError(WHAT, `expected 5 ';'-separated fields, got ${fields.length}`);
  const [kind, path, hash, sizeText, refsText] = fields as [string, string, string, string, string];
  if (kind !== KIND)
    throw new MalformedError(WHAT, `unknown entry kind ${JSON.stringify(kind.slice(0, 16))}`);
  const storePath = parseStorePath(path, storeDir).path;
  const narHash = parseCanonicalSha256(hash, 'entry NAR hash');
  const narSize = parseDecimal(sizeText, 'entry NAR size');
  if (narSize === 0) throw new MalformedError('entry NAR size', 'must be positive (no NAR is empty)');
  const references = refsText === '' ? [] : refsText.split(',');
  for (const [i, ref] of references.entries()) {
    parseStorePath(ref, storeDir);
    if (i > 0 && !(references[i - 1]! < ref))
      throw new MalformedError(WHAT, 'references are not strictly ascending (unsorted or duplicate)');
  }
  return { storePath, narHash, narSize, references };
}

/**
 * Checks an entry given as bytes without building it: accepts exactly what parseEntry accepts and
 * throws the same errors (parseEntry words them), but a valid entry costs no allocation, which matters
 * where every entry of a log is checked (a sync). Returns the offset of the store path's hash part
 * (STORE_PATH_HASH_CHARS ASCII bytes).
 */
export function checkEntry(bytes: Uint8Array, storeDir = DEFAULT_STORE_DIR): number {
  checkStoreDir(storeDir);
  if (isValidEntry(bytes, storeDir)) return KIND.length + 1 + storeDir.length + 1;
  parseEntry(bytes, storeDir);
  // Unreachable while both agree (tested): never let a disagreement pass as valid.
  throw new MalformedError(WHAT, 'not a valid entry');
}

const SEMICOLON = 0x3b;
const COMMA = 0x2c;
const DIGIT_0 = 0x30;
const SHA256_PREFIX = 'sha256:';
const NIX32_SHA256_CHARS = 52;
const MAX_SIZE_DIGITS = 16;

/** parseEntry's rules, walked over the bytes (every valid entry is ASCII, so no decoding is needed). */
function isValidEntry(b: Uint8Array, storeDir: string): boolean {
  const n = b.length;
  if (n > MAX_ENTRY_BYTES || b[0] !== KIND.charCodeAt(0) || b[1] !== SEMICOLON) return false;
  let pos = storePathEnd(b, 2, storeDir);
  if (pos < 0 || b[pos] !== SEMICOLON) return false;
  pos++;
  // NAR hash: canonical nix32 of 32 bytes, whose first char carries one bit (so is '0' or '1').
  if (pos + SHA256_PREFIX.length + NIX32_SHA256_CHARS >= n) return false;
  for (let k = 0; k < SHA256_PREFIX.length; k++) if (b[pos + k] !== SHA256_PREFIX.charCodeAt(k)) return false;
  pos += SHA256_PREFIX.length;
  if (b[pos] !== DIGIT_0 && b[pos] !== DIGIT_0 + 1) return false;
  if (!isNix32Bytes(b, pos + 1, pos + NIX32_SHA256_CHARS)) return false;
  pos += NIX32_SHA256_CHARS;
  if (b[pos] !== SEMICOLON) return false;
  pos++;
  // NAR size: 1 to 2^53-1, no leading zero. Summing in doubles is exact below 2^53 and monotonic above.
  const sizeAt = pos;
  let size = 0;
  for (; pos < n && b[pos]! >= DIGIT_0 && b[pos]! <= DIGIT_0 + 9; pos++)
    size = size * 10 + (b[pos]! - DIGIT_0);
  const digits = pos - sizeAt;
  if (digits === 0 || digits > MAX_SIZE_DIGITS || b[sizeAt] === DIGIT_0 || !Number.isSafeInteger(size))
    return false;
  if (pos >= n || b[pos] !== SEMICOLON) return false;
  pos++;
  // References: store paths joined by ',', strictly ascending, up to the end.
  let prev = -1;
  let prevEnd = -1;
  while (pos < n) {
    const end = storePathEnd(b, pos, storeDir);
    if (end < 0 || (prev >= 0 && !isBefore(b, prev, prevEnd, pos, end, storeDir.length + 1))) return false;
    if (end === n) return true;
    if (b[end] !== COMMA) return false;
    prev = pos;
    prevEnd = end;
    pos = end + 1;
  }
  // Nothing after the size's ';' (no references), or a trailing ','.
  return prev < 0;
}

/** Whether b[a..aEnd) sorts strictly before b[c..cEnd) (byte order: JS string order for ASCII). */
function isBefore(b: Uint8Array, a: number, aEnd: number, c: number, cEnd: number, from: number): boolean {
  const common = Math.min(aEnd - a, cEnd - c);
  for (let k = from; k < common; k++) if (b[a + k] !== b[c + k]) return b[a + k]! < b[c + k]!;
  return aEnd - a < cEnd - c;
}

/**
 * Writes an entry: the Nix fingerprint of these values. References are sorted here (as Nix does);
 * anything else that would not parse back (duplicates, bad paths, references outside the store
 * path's store dir, oversize) throws.
 */
export function formatEntry(entry: Entry): string {
  const refs = [...entry.references].sort();
  const text = `${KIND};${entry.storePath};${formatSha256(entry.narHash)};${entry.narSize};${refs.join(',')}`;
  // One definition of validity: what we write must read back.
  parseEntry(text, storeDirOf(entry.storePath));
  return text;
}

/** The fields of a narinfo that make its entry (its signed fingerprint); a parsed `Narinfo` is one. */
export interface NarinfoFingerprintFields {
  /** Full store path. */
  readonly storePath: string;
  /** The 32 bytes of the NAR's SHA-256. */
  readonly narHash: Uint8Array;
  readonly narSize: number;
  /** Base names (`<hash>-<name>`), as in the narinfo; undefined when the line is absent. */
  readonly references?: readonly string[];
}

/** The entry (fingerprint values) a narinfo describes; references become full, sorted paths. */
export function entryFromNarinfo(info: NarinfoFingerprintFields): Entry {
  const storeDir = storeDirOf(info.storePath);
  const references = (info.references ?? []).map((base) => `${storeDir}/${base}`).sort();
  return { storePath: info.storePath, narHash: info.narHash, narSize: info.narSize, references };
}
