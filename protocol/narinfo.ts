/**
 * Narinfo: a binary cache's description of one store path (`GET /<hash part>.narinfo`).
 *
 *   StorePath: /nix/store/xlyi2n3g389xnbz7z77bkdzk3vbfw53d-tv-file
 *   URL: nar/1lza0nxnigb906pzf8v83b1zp348mafipcjr31rkfp04h30s8xfq.nar.xz
 *   Compression: xz
 *   FileHash: sha256:1lza0nxnigb906pzf8v83b1zp348mafipcjr31rkfp04h30s8xfq
 *   FileSize: 140
 *   NarHash: sha256:0k7nyapk1y0cjxh60wx664mmpgri8lrrxmv1jgfplp4f68ylw8pp
 *   NarSize: 128
 *   References: <base names separated by single spaces; "References: " when none>
 *   Deriver: 86z5nrmhy2n79sjgyk1dbndbjii9wj1g-tv-file.drv
 *   Sig: trustix-test-1:fx2TgkKi1qSCKK8RbubzJASjmJD6YtSoNIS/XDSC1k/sqjd7iq2yskdo/kDzFqH+ZpFs0PrPrDJrM6vRHOv0Dw==
 *
 * Each line is `Key: value\n` (exactly one space after the colon), LF only, the last line ends in
 * LF. Required: StorePath, URL, NarHash, NarSize. Sig may repeat; every other known field appears
 * at most once. Unknown fields are kept in order and written after the known ones (Nix ignores
 * them). `formatNarinfo` writes the known fields in Nix's own order, so a narinfo Nix wrote
 * (canonical hashes, that order) re-formats byte for byte. Hashes in other spellings are
 * normalized to `sha256:<nix32>` (see nix-hash.ts); `Deriver: unknown-deriver` (old Nix) means none.
 */
import { MAX_NARINFO_BYTES } from './constants.ts';
import { parseDecimal } from './decimal.ts';
import { MalformedError } from './errors.ts';
import { parseNarinfoSignature } from './narinfo-signature.ts';
import { formatSha256, parseSha256 } from './nix-hash.ts';
import { DEFAULT_STORE_DIR, parseStoreBaseName, parseStorePath } from './store-path.ts';
import { boundedText } from './utf8.ts';

/** A field Nix does not know, kept as written. */
export interface NarinfoField {
  readonly key: string;
  readonly value: string;
}

export interface Narinfo {
  /** Full store path. */
  readonly storePath: string;
  readonly url: string;
  readonly compression?: string;
  readonly fileHash?: Uint8Array;
  readonly fileSize?: number;
  /** The 32 bytes of the NAR's SHA-256. */
  readonly narHash: Uint8Array;
  readonly narSize: number;
  /** Base names (`<hash>-<name>`) as in the narinfo, in its order; undefined when the line is absent. */
  readonly references?: readonly string[];
  /** Base name of the deriver. */
  readonly deriver?: string;
  readonly system?: string;
  /** `NAME:base64(sig64)` values, in order. */
  readonly sigs: readonly string[];
  readonly ca?: string;
  /** Unknown fields, in order. */
  readonly extra: readonly NarinfoField[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const WHAT = 'narinfo';
const UNKNOWN_DERIVER = 'unknown-deriver';

/**
 * Parses a narinfo strictly. Store paths (StorePath, References, Deriver) must be in `storeDir`.
 * Throws TooLargeError over MAX_NARINFO_BYTES (before reading), MalformedError otherwise.
 */
export function parseNarinfo(input: Uint8Array | string, storeDir = DEFAULT_STORE_DIR): Narinfo {
  const text = boundedText(input, WHAT, MAX_NARINFO_BYTES);
  if (text.includes('\r')) throw new MalformedError(WHAT, 'contains CR (lines end in LF only)');
  if (!text.endsWith('\n')) throw new MalformedError(WHAT, 'does not end in a newline');

  const info: Partial<Mutable<Narinfo>> = {};
  const sigs: string[] = [];
  const extra: NarinfoField[] = [];
  const seen = new Set<string>();
  const lines = text.slice(0, -1).split('\n');
  for (const [index, line] of lines.entries()) {
    const colon = line.indexOf(':');
    if (colon <= 0 || line[colon + 1] !== ' ')
      throw new MalformedError(WHAT, `line ${index + 1} is not "Key: value"`);
    const key = line.slice(0, colon);
    const value = line.slice(colon + 2);
    if (key === 'Sig') {
      parseNarinfoSignature(value);
      sigs.push(value);
      continue;
    }
    if (seen.has(key)) throw new MalformedError(WHAT, `duplicate ${key} field`);
    if (setField(info, key, value, storeDir)) seen.add(key);
    else extra.push({ key, value });
  }
  for (const key of ['StorePath', 'URL', 'NarHash', 'NarSize'])
    if (!seen.has(key)) throw new MalformedError(WHAT, `missing ${key} field`);
  return { ...info, sigs, extra } as Narinfo;
}

/** Sets one singleton field; false when `key` is not one Nix knows. */
function setField(info: Partial<Mutable<Narinfo>>, key: string, v: string, dir: string): boolean {
  switch (key) {
    case 'StorePath':
      info.storePath = parseStorePath(v, dir).path;
      return true;
    case 'URL':
      info.url = nonEmpty(key, v);
      return true;
    case 'Compression':
      info.compression = nonEmpty(key, v);
      return true;
    case 'FileHash':
      info.fileHash = parseSha256(v, 'narinfo FileHash');
      return true;
    case 'FileSize':
      info.fileSize = parseDecimal(v, 'narinfo FileSize');
      return true;
    case 'NarHash':
      info.narHash = parseSha256(v, 'narinfo NarHash');
      return true;
    case 'NarSize':
      info.narSize = parseDecimal(v, 'narinfo NarSize');
      // No NAR is empty; Nix calls a narinfo with NarSize 0 corrupt.
      if (info.narSize === 0) throw new MalformedError('narinfo NarSize', 'must be positive');
      return true;
    case 'References':
      info.references = parseReferences(v, dir);
      return true;
    case 'Deriver':
      if (v !== UNKNOWN_DERIVER) info.deriver = parseStoreBaseName(v, dir).baseName;
      return true;
    case 'System':
      info.system = nonEmpty(key, v);
      return true;
    case 'CA':
      info.ca = nonEmpty(key, v);
      return true;
    default:
      return false;
  }
}

// Fields whose parser would not already refuse an empty value.
function nonEmpty(key: string, v: string): string {
  if (v === '') throw new MalformedError(WHAT, `empty ${key} field`);
  return v;
}

function parseReferences(v: string, dir: string): string[] {
  const refs = v === '' ? [] : v.split(' ');
  const unique = new Set<string>();
  for (const r of refs) {
    parseStoreBaseName(r, dir);
    if (unique.has(r)) throw new MalformedError('narinfo References', `duplicate reference ${r}`);
    unique.add(r);
  }
  return refs;
}

/**
 * Writes a narinfo in Nix's field order (StorePath, URL, Compression, FileHash, FileSize, NarHash,
 * NarSize, References, Deriver, System, Sig..., CA), then the unknown fields in order.
 */
export function formatNarinfo(info: Narinfo): string {
  const lines: string[] = [];
  const add = (key: string, value: string) => {
    // A value with a line break would smuggle in fields the signer never saw.
    if (/[\r\n]/.test(value) || key === '' || /[:\r\n]/.test(key))
      throw new MalformedError(WHAT, `field ${JSON.stringify(key)} cannot be written on one line`);
    lines.push(`${key}: ${value}`);
  };
  add('StorePath', info.storePath);
  add('URL', info.url);
  if (info.compression !== undefined) add('Compression', info.compression);
  if (info.fileHash !== undefined) add('FileHash', formatSha256(info.fileHash));
  if (info.fileSize !== undefined) add('FileSize', String(info.fileSize));
  add('NarHash', formatSha256(info.narHash));
  add('NarSize', String(info.narSize));
  if (info.references !== undefined) add('References', info.references.join(' '));
  if (info.deriver !== undefined) add('Deriver', info.deriver);
  if (info.system !== undefined) add('System', info.system);
  for (const sig of info.sigs) add('Sig', sig);
  if (info.ca !== undefined) add('CA', info.ca);
  for (const { key, value } of info.extra) add(key, value);
  return `${lines.join('\n')}\n`;
}
