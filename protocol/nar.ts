/**
 * NAR serialization (`nix-store --dump`) of an abstract tree (nar-tree.ts), streamed.
 *
 * Every string is `u64 LE length || bytes || zero padding to a multiple of 8`. Grammar:
 *
 *   nar       = str("nix-archive-1") node
 *   node      = str("(") str("type") body str(")")
 *   body      = str("regular") [str("executable") str("")] str("contents") str(<file bytes>)
 *             | str("symlink") str("target") str(<target>)
 *             | str("directory") { str("entry") str("(") str("name") str(<name>) str("node") node str(")") }
 *
 * Directory entries come in byte order of their names (UTF-8 bytes compared, not JS string
 * order). Names must not be empty, `.`, `..`, or contain `/` or NUL, and must be unique; a regular
 * file must yield exactly its declared size. A tree that breaks these rules throws MalformedError.
 */
import { createHash } from 'node:crypto';
import { MalformedError } from './errors.ts';
import type { NarDirectoryEntry, NarNode } from './nar-tree.ts';

const WHAT = 'NAR tree';
const encoder = new TextEncoder();

// Output is batched into chunks of this size so small tokens cost no per-write overhead downstream.
const BATCH = 64 * 1024;
// File content pieces at least this large are passed through uncopied.
const PASS_THROUGH = 16 * 1024;

/** Bytes of `str(...)` for each string, concatenated: the fixed token runs of the grammar. */
function tokens(...strings: string[]): Uint8Array {
  const parts: number[] = [];
  for (const s of strings) {
    const b = encoder.encode(s);
    parts.push(b.length, 0, 0, 0, 0, 0, 0, 0, ...b, ...new Array(padding(b.length)).fill(0));
  }
  return Uint8Array.from(parts);
}

function padding(n: number): number {
  return (8 - (n % 8)) % 8;
}

const MAGIC = tokens('nix-archive-1');
const OPEN = tokens('(', 'type');
const REGULAR = tokens('regular', 'contents');
const EXECUTABLE = tokens('regular', 'executable', '', 'contents');
const SYMLINK = tokens('symlink', 'target');
const DIRECTORY = tokens('directory');
const ENTRY = tokens('entry', '(', 'name');
const NODE = tokens('node');
const CLOSE = tokens(')');

/** Collects small writes into fresh BATCH-sized chunks; large pieces go out as they are. */
class ChunkWriter {
  private buf = new Uint8Array(BATCH);
  private view = new DataView(this.buf.buffer);
  private len = 0;
  private ready: Uint8Array[] = [];

  bytes(b: Uint8Array): void {
    if (b.length >= PASS_THROUGH) {
      this.flush();
      this.ready.push(b);
      return;
    }
    if (this.len + b.length > BATCH) this.flush();
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  u64(n: number): void {
    if (this.len + 8 > BATCH) this.flush();
    // n is a safe integer: low word by ToUint32 (n mod 2^32), high word by division.
    this.view.setUint32(this.len, n >>> 0, true);
    this.view.setUint32(this.len + 4, Math.floor(n / 2 ** 32), true);
    this.len += 8;
  }

  /** Zero padding after `n` bytes of string. */
  pad(n: number): void {
    const p = padding(n);
    if (this.len + p > BATCH) this.flush();
    // Fresh buffers are zero-filled and never rewound, so skipping ahead writes the zeros.
    this.len += p;
  }

  str(b: Uint8Array): void {
    this.u64(b.length);
    this.bytes(b);
    this.pad(b.length);
  }

  flush(): void {
    if (this.len === 0) return;
    this.ready.push(this.buf.subarray(0, this.len));
    this.buf = new Uint8Array(BATCH);
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }

  get hasReady(): boolean {
    return this.ready.length > 0;
  }

  /** Chunks completed so far, handed over (the caller yields them). */
  take(): Uint8Array[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }
}

/**
 * The NAR of `root`, as a stream of chunks. Content pieces of 16 KiB or more are the tree's own
 * buffers, passed through uncopied; everything else is batched into fresh 64 KiB chunks.
 */
export async function* narChunks(root: NarNode): AsyncGenerator<Uint8Array> {
  const w = new ChunkWriter();
  w.bytes(MAGIC);
  yield* node(root, w);
  w.flush();
  yield* w.take();
}

async function* node(n: NarNode, w: ChunkWriter): AsyncGenerator<Uint8Array> {
  w.bytes(OPEN);
  switch (n.type) {
    case 'regular': {
      if (!Number.isSafeInteger(n.size) || n.size < 0)
        throw new MalformedError(WHAT, `bad file size ${n.size}`);
      w.bytes(n.executable ? EXECUTABLE : REGULAR);
      w.u64(n.size);
      let seen = 0;
      for await (const chunk of n.contents()) {
        seen += chunk.length;
        if (seen > n.size)
          throw new MalformedError(WHAT, `file yields more than its declared ${n.size} bytes`);
        w.bytes(chunk);
        if (w.hasReady) yield* w.take();
      }
      if (seen !== n.size) throw new MalformedError(WHAT, `file yields ${seen} bytes, declared ${n.size}`);
      w.pad(n.size);
      break;
    }
    case 'symlink': {
      const target = typeof n.target === 'string' ? encoder.encode(n.target) : n.target;
      if (target.length === 0 || target.includes(0))
        throw new MalformedError(WHAT, 'empty symlink target or NUL in it');
      w.bytes(SYMLINK);
      w.str(target);
      break;
    }
    case 'directory': {
      w.bytes(DIRECTORY);
      for (const { name, entry } of sortedEntries(await n.entries())) {
        w.bytes(ENTRY);
        w.str(name);
        w.bytes(NODE);
        yield* node(await entry.node(), w);
        w.bytes(CLOSE);
      }
      break;
    }
    default:
      throw new MalformedError(WHAT, `unknown node type ${JSON.stringify((n as { type: unknown }).type)}`);
  }
  w.bytes(CLOSE);
  if (w.hasReady) yield* w.take();
}

const SLASH = 0x2f;
const DOT = 0x2e;

/** Entries with byte names, sorted by bytes; refuses bad and duplicate names. */
function sortedEntries(
  entries: readonly NarDirectoryEntry[],
): { name: Uint8Array; entry: NarDirectoryEntry }[] {
  const named = entries.map((entry) => {
    const name = typeof entry.name === 'string' ? encoder.encode(entry.name) : entry.name;
    const dots = name.length <= 2 && name.every((c) => c === DOT);
    if (name.length === 0 || dots || name.includes(SLASH) || name.includes(0))
      throw new MalformedError(WHAT, `invalid entry name ${JSON.stringify(new TextDecoder().decode(name))}`);
    return { name, entry };
  });
  named.sort((a, b) => Buffer.compare(a.name, b.name));
  for (let i = 1; i < named.length; i++) {
    if (Buffer.compare(named[i - 1]!.name, named[i]!.name) === 0)
      throw new MalformedError(
        WHAT,
        `duplicate entry name ${JSON.stringify(new TextDecoder().decode(named[i]!.name))}`,
      );
  }
  return named;
}

/** SHA-256 and size of the NAR of `root`, streamed: memory use does not grow with file sizes. */
export async function narHash(root: NarNode): Promise<{ hash: Uint8Array; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of narChunks(root)) {
    h.update(chunk);
    size += chunk.length;
  }
  return { hash: new Uint8Array(h.digest()), size };
}
