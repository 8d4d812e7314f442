/**
 * A log entry: exactly the Nix narinfo fingerprint, UTF-8, no newline (DESIGN.md section 3).
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
import type { Narinfo } from './narinfo.ts';
import { formatSha256, parseCanonicalSha256 } from './nix-hash.ts';
import { DEFAULT_STORE_DIR, parseStorePath, storeDirOf } from './store-path.ts';
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

/** The entry (fingerprint values) a narinfo describes; references become full, sorted paths. */
export function entryFromNarinfo(info: Narinfo): Entry {
  const storeDir = storeDirOf(info.storePath);
  const references = (info.references ?? []).map((base) => `${storeDir}/${base}`).sort();
  return { storePath: info.storePath, narHash: info.narHash, narSize: info.narSize, references };
}
