/**
 * Streaming NAR parser: the inverse of nar.ts, for NARs that come from elsewhere (a binary cache's
 * download, compared file by file by `trustix challenge --diff`). Chunks of any size go in; out comes
 * one event per node, in NAR order (a directory before its entries, entries in byte order of names):
 *
 *   { path: '',          type: 'directory' }
 *   { path: 'bin',       type: 'directory' }
 *   { path: 'bin/hello', type: 'regular', executable: true, size: 23, sha256: <32 bytes> }
 *   { path: 'link',      type: 'symlink', target: 'bin/hello' }
 *
 * File contents are hashed as they stream past and never held. The grammar is in nar.ts; on the wire an
 * executable file `hi\n` as a whole NAR is (every string: u64 LE length, bytes, zeros to a multiple of 8):
 *
 *   0d 00 00 00 00 00 00 00  6e 69 78 2d 61 72 63 68  69 76 65 2d 31 00 00 00   "nix-archive-1"
 *   01 00 00 00 00 00 00 00  28 00 00 00 00 00 00 00                            "("
 *   04 .. "type" 00*4   07 .. "regular" 00   0a .. "executable" 00*6   00*8      "" (empty string)
 *   08 .. "contents"    03 00 00 00 00 00 00 00  68 69 0a 00 00 00 00 00        3 bytes of contents
 *   01 00 00 00 00 00 00 00  29 00 00 00 00 00 00 00                            ")"
 *
 * Strict and canonical: exactly the form `nix-store --dump` writes, nothing else. Padding must be zero,
 * `executable` comes before `contents` (Nix's own parser takes other orders, but no NAR made by Nix has
 * them, and two encodings of one tree would hash differently), entries are strictly increasing by name
 * bytes (so no duplicates), names are not empty, `.`, `..` and hold no `/` or NUL, symlink targets are
 * not empty and hold no NUL, and nothing follows the root node. Truncation anywhere is an error.
 *
 * Names and targets are bytes on the wire; here they are text, losslessly (escapeNarName): UTF-8 is
 * decoded; each byte that is not part of valid UTF-8, or is a control character (C0, DEL, or the UTF-8
 * of C1), becomes `\xNN` (lowercase hex), and a backslash becomes `\\`. Every string therefore maps back
 * to exactly one byte string (narNameBytes), and a path can be printed on a line of its own without a
 * newline or terminal escape inside it.
 */
import { createHash } from 'node:crypto';
import { MalformedError, TooLargeError } from './errors.ts';

const WHAT = 'NAR';
const bad = (message: string) => new MalformedError(WHAT, message);
const q = JSON.stringify;

export type NarEvent =
  | {
      readonly path: string;
      readonly type: 'regular';
      readonly executable: boolean;
      readonly size: number;
      readonly sha256: Uint8Array;
    }
  | { readonly path: string; readonly type: 'symlink'; readonly target: string }
  | { readonly path: string; readonly type: 'directory' };

export interface NarReaderLimits {
  /** Longest entry name, in bytes. Default 4096 (Linux allows 255; Nix sets no limit). */
  readonly maxNameLength?: number;
  /** Longest symlink target, in bytes. Default 4096 (PATH_MAX). */
  readonly maxTargetLength?: number;
  /** Deepest node: entries of the root are at depth 1. Default 256. */
  readonly maxDepth?: number;
  /** Most nodes (files, symlinks and directories, the root included). Default 10,000,000. */
  readonly maxEntries?: number;
  /** Most bytes of NAR. Default: no limit. */
  readonly maxSize?: number;
}

export const DEFAULT_NAR_READER_LIMITS = {
  maxNameLength: 4096,
  maxTargetLength: 4096,
  maxDepth: 256,
  maxEntries: 10_000_000,
  maxSize: undefined as number | undefined,
};

type Limits = typeof DEFAULT_NAR_READER_LIMITS;

// Longer than every keyword of the grammar ("nix-archive-1" is 13): a longer string is not a keyword.
const MAX_KEYWORD = 16;

/**
 * The byte stream, taken in exact amounts whatever the chunk boundaries. Each read is one async call
 * that awaits only to cross a chunk boundary: most tokens are read straight from the current chunk.
 */
class Input {
  private readonly it: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  /** The unread tail of a chunk whose head fill() took. */
  private rest: Uint8Array | undefined;
  private pulled = 0;
  /** Offset of the next byte the parser takes (for messages and the size limit). */
  offset = 0;

  constructor(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    private readonly maxSize: number | undefined,
  ) {
    this.it =
      Symbol.asyncIterator in chunks
        ? (chunks as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
        : (chunks as Iterable<Uint8Array>)[Symbol.iterator]();
  }

  /** The next non-empty chunk, or undefined at the end of the stream. */
  private async next(): Promise<Uint8Array | undefined> {
    const rest = this.rest;
    this.rest = undefined;
    if (rest !== undefined) return rest;
    for (;;) {
      const r = await this.it.next();
      if (r.done === true) return undefined;
      if (r.value.length === 0) continue;
      this.pulled += r.value.length;
      if (this.maxSize !== undefined && this.pulled > this.maxSize)
        throw new TooLargeError(WHAT, this.pulled, this.maxSize);
      return r.value;
    }
  }

  /** Makes the next `n` bytes (n small) contiguous at buf[pos], copying across chunks. */
  private async fill(n: number, context: string): Promise<void> {
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(this.pos));
    for (let have = this.buf.length - this.pos; have < n; ) {
      const chunk = await this.next();
      if (chunk === undefined) throw bad(`truncated at offset ${this.offset + have} (in ${context})`);
      const k = Math.min(n - have, chunk.length);
      out.set(chunk.subarray(0, k), have);
      if (k < chunk.length) this.rest = chunk.subarray(k);
      have += k;
    }
    this.buf = out;
    this.pos = 0;
  }

  /** Passes the next `n` bytes to `sink` piece by piece, as they arrive (file contents to a hash). */
  async feed(n: number, sink: (piece: Uint8Array) => void): Promise<void> {
    for (let left = n; left > 0; ) {
      if (this.pos === this.buf.length) {
        const chunk = await this.next();
        if (chunk === undefined) throw bad(`truncated at offset ${this.offset} (in file contents)`);
        this.buf = chunk;
        this.pos = 0;
      }
      const k = Math.min(left, this.buf.length - this.pos);
      sink(this.buf.subarray(this.pos, this.pos + k));
      this.pos += k;
      this.offset += k;
      left -= k;
    }
  }

  async u64(context: string): Promise<number> {
    if (this.buf.length - this.pos < 8) await this.fill(8, context);
    const n = u64At(this.buf, this.pos);
    this.pos += 8;
    this.offset += 8;
    return n;
  }

  /** The zeros that pad `n` bytes of string to a multiple of 8. */
  async padding(n: number): Promise<void> {
    const p = (8 - (n % 8)) % 8;
    if (this.buf.length - this.pos < p) await this.fill(p, 'padding');
    this.checkZeros(this.pos, p);
    this.pos += p;
    this.offset += p;
  }

  private checkZeros(from: number, count: number): void {
    for (let i = from; i < from + count; i++)
      if (this.buf[i] !== 0) throw bad(`non-zero padding at offset ${this.offset + i - this.pos}`);
  }

  /**
   * A string's bytes (a view into a chunk) with its padding checked. Longer than `limit`: a
   * TooLargeError(`what`), or for a keyword (`what` says which), a MalformedError.
   */
  async str(limit: number, what: string, keyword = false): Promise<Uint8Array> {
    if (this.buf.length - this.pos < 8) await this.fill(8, what);
    const n = u64At(this.buf, this.pos);
    if (n > limit) {
      if (keyword) throw bad(`expected ${what} at offset ${this.offset}, found ${n} bytes`);
      throw new TooLargeError(what, n, limit);
    }
    const total = 8 + n + ((8 - (n % 8)) % 8);
    if (this.buf.length - this.pos < total) await this.fill(total, what);
    this.checkZeros(this.pos + 8 + n, total - 8 - n);
    const at = this.pos;
    this.pos += total;
    this.offset += total;
    return this.buf.subarray(at + 8, at + 8 + n);
  }

  /** A keyword of the grammar; `expected` describes the choices, for the message. */
  async keyword(expected: string): Promise<string> {
    return escapeNarName(await this.str(MAX_KEYWORD, expected, true));
  }

  async expect(word: string): Promise<void> {
    const at = this.offset;
    const found = await this.keyword(q(word));
    if (found !== word) throw bad(`expected ${q(word)} at offset ${at}, found ${q(found)}`);
  }

  /** True when the stream has no bytes left (pulls at most one more chunk). */
  async atEnd(): Promise<boolean> {
    return this.pos === this.buf.length && (await this.next()) === undefined;
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/** The u64 LE at `at`; above 2^53 it rounds, but every caller refuses such a value anyway. */
function u64At(b: Uint8Array, at: number): number {
  const lo = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 2 ** 24;
  const hi = (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16)) + b[at + 7]! * 2 ** 24;
  return hi * 2 ** 32 + lo;
}

/**
 * The nodes of the NAR in `chunks`, in NAR order. Throws MalformedError('NAR') on anything but a
 * canonical NAR, TooLargeError over a byte limit. Stopping early closes `chunks` (its `return()`).
 */
export async function* readNar(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  limits: NarReaderLimits = {},
): AsyncGenerator<NarEvent> {
  const l: Limits = { ...DEFAULT_NAR_READER_LIMITS };
  for (const [k, v] of Object.entries(limits)) if (v !== undefined) (l as Record<string, unknown>)[k] = v;
  const input = new Input(chunks, l.maxSize);
  try {
    if ((await input.keyword('the magic "nix-archive-1"')) !== 'nix-archive-1')
      throw bad('not a NAR (no nix-archive-1 magic)');
    yield* node(input, '', 0, l, { nodes: 0 });
    if (!(await input.atEnd())) throw bad(`trailing data after the root node`);
  } finally {
    await input.close();
  }
}

async function* node(
  input: Input,
  path: string,
  depth: number,
  l: Limits,
  count: { nodes: number },
): AsyncGenerator<NarEvent> {
  if (++count.nodes > l.maxEntries) throw bad(`more than ${l.maxEntries} nodes`);
  await input.expect('(');
  await input.expect('type');
  const type = await input.keyword('a node type');
  switch (type) {
    case 'regular': {
      let tag = await input.keyword('"executable" or "contents"');
      const executable = tag === 'executable';
      if (executable) {
        if ((await input.keyword('""')) !== '') throw bad(`non-empty executable marker at ${q(path)}`);
        tag = await input.keyword('"contents"');
      }
      if (tag !== 'contents') throw bad(`expected "contents", found ${q(tag)} at ${q(path)}`);
      const size = await input.u64('a file size');
      if (size > Number.MAX_SAFE_INTEGER) throw bad(`file size ${size} is too large`);
      // Refuse a huge declared size before reading any of it.
      if (l.maxSize !== undefined && input.offset + size > l.maxSize)
        throw new TooLargeError(WHAT, input.offset + size, l.maxSize);
      const hash = createHash('sha256');
      await input.feed(size, (piece) => hash.update(piece));
      await input.padding(size);
      await input.expect(')');
      yield { path, type, executable, size, sha256: new Uint8Array(hash.digest()) };
      return;
    }
    case 'symlink': {
      await input.expect('target');
      const target = await input.str(l.maxTargetLength, 'NAR symlink target');
      if (target.length === 0 || target.includes(0))
        throw bad(`empty symlink target or NUL in it at ${q(path)}`);
      await input.expect(')');
      yield { path, type, target: escapeNarName(target) };
      return;
    }
    case 'directory': {
      yield { path, type };
      let previous: Uint8Array | undefined;
      for (;;) {
        const tag = await input.keyword('"entry" or ")"');
        if (tag === ')') return;
        if (tag !== 'entry') throw bad(`expected "entry" or ")", found ${q(tag)}`);
        if (depth + 1 > l.maxDepth) throw bad(`directories nested deeper than ${l.maxDepth}`);
        await input.expect('(');
        await input.expect('name');
        // A copy: the bytes may be a view into a chunk, and are compared with the next name.
        const name = (await input.str(l.maxNameLength, 'NAR entry name')).slice();
        const escaped = escapeNarName(name);
        const dots = name.length <= 2 && name.every((c) => c === 0x2e);
        if (name.length === 0 || dots || name.includes(0x2f) || name.includes(0))
          throw bad(`invalid entry name ${q(escaped)} in ${q(path)}`);
        if (previous !== undefined) {
          const order = Buffer.compare(previous, name);
          if (order >= 0)
            throw bad(`${order === 0 ? 'duplicate' : 'unsorted'} entry ${q(escaped)} in ${q(path)}`);
        }
        previous = name;
        await input.expect('node');
        yield* node(input, path === '' ? escaped : `${path}/${escaped}`, depth + 1, l, count);
        await input.expect(')');
      }
    }
    default:
      throw bad(`unknown node type ${q(type)} at ${q(path)}`);
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Bytes as text, losslessly (see the module comment): UTF-8, with `\xNN` and `\\` escapes. */
export function escapeNarName(bytes: Uint8Array): string {
  let plain = true;
  for (const c of bytes) if (c < 0x20 || c >= 0x7f || c === 0x5c) plain = false;
  if (plain) return String.fromCharCode(...bytes);
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const c = bytes[i]!;
    if (c >= 0xc2 && c <= 0xf4) {
      // The sequence length the lead byte announces; the strict decoder checks the rest.
      const n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      const ch = decodeOne(bytes.subarray(i, i + n));
      const cp = ch?.codePointAt(0);
      if (ch !== undefined && cp !== undefined && cp > 0x9f) {
        out += ch;
        i += n;
        continue;
      }
    }
    out +=
      c === 0x5c
        ? '\\\\'
        : c < 0x20 || c >= 0x7f
          ? `\\x${c.toString(16).padStart(2, '0')}`
          : String.fromCharCode(c);
    i++;
  }
  return out;
}

function decodeOne(b: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(b);
  } catch {
    return undefined;
  }
}

/** The bytes a name, target or path from escapeNarName stands for (its inverse). */
export function narNameBytes(text: string): Uint8Array {
  if (!text.includes('\\')) return encoder.encode(text);
  const parts: Uint8Array[] = [];
  let last = 0;
  for (const m of text.matchAll(/\\(?:\\|x([0-9a-f]{2}))/g)) {
    parts.push(
      encoder.encode(text.slice(last, m.index)),
      Uint8Array.of(m[1] === undefined ? 0x5c : Number.parseInt(m[1], 16)),
    );
    last = m.index + m[0].length;
  }
  parts.push(encoder.encode(text.slice(last)));
  return Buffer.concat(parts);
}

/**
 * NAR order of two event paths: component by component, by the bytes of the names, an ancestor before
 * its descendants. Two readings of NARs can be merged with it (node/stats/nar-diff.ts).
 */
export function compareNarPaths(a: string, b: string): number {
  if (a === b) return 0;
  const x = a === '' ? [] : a.split('/');
  const y = b === '' ? [] : b.split('/');
  for (let i = 0; i < x.length && i < y.length; i++) {
    if (x[i] !== y[i]) return Buffer.compare(narNameBytes(x[i]!), narNameBytes(y[i]!));
  }
  return x.length - y.length;
}
