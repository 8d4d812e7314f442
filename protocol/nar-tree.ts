/**
 * The abstract file tree that NAR serialization (nar.ts) walks. node/ implements it over the real
 * filesystem (lstat, readdir, readlink, read streams); `memory*` below build one in memory.
 *
 * Everything is lazy so a 1 GB output is never held in memory: a file's contents are an async
 * stream read only while serializing, a directory lists names first and opens each child only when
 * its turn comes. Names and symlink targets may be strings (encoded as UTF-8) or raw bytes, since
 * Linux file names are bytes.
 */

/** A regular file. `contents()` must yield exactly `size` bytes in total. */
export interface NarRegular {
  readonly type: 'regular';
  readonly executable: boolean;
  readonly size: number;
  contents(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

export interface NarSymlink {
  readonly type: 'symlink';
  readonly target: string | Uint8Array;
}

/** A directory: its entries in any order (the serializer sorts them). */
export interface NarDirectory {
  readonly type: 'directory';
  entries(): Promise<readonly NarDirectoryEntry[]> | readonly NarDirectoryEntry[];
}

export interface NarDirectoryEntry {
  readonly name: string | Uint8Array;
  /** Opens the child; called once, when the serializer reaches it. */
  node(): Promise<NarNode> | NarNode;
}

export type NarNode = NarRegular | NarSymlink | NarDirectory;

/** Default piece size of in-memory file contents, so they stream like a real file would. */
const MEMORY_CHUNK = 64 * 1024;

/** An in-memory regular file. */
export function memoryFile(
  contents: Uint8Array | string,
  options: { executable?: boolean; chunkSize?: number } = {},
): NarRegular {
  const bytes = typeof contents === 'string' ? new TextEncoder().encode(contents) : contents;
  const chunkSize = options.chunkSize ?? MEMORY_CHUNK;
  return {
    type: 'regular',
    executable: options.executable ?? false,
    size: bytes.length,
    *contents() {
      for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
    },
  };
}

export function memorySymlink(target: string | Uint8Array): NarSymlink {
  return { type: 'symlink', target };
}

/**
 * An in-memory directory from a record or from (name, node) pairs (pairs allow byte names, and
 * duplicates for testing that the serializer refuses them).
 */
export function memoryDirectory(
  children: Readonly<Record<string, NarNode>> | ReadonlyArray<readonly [string | Uint8Array, NarNode]>,
): NarDirectory {
  const pairs = Array.isArray(children) ? children : Object.entries(children);
  const entries = pairs.map(([name, child]) => ({ name, node: () => child }));
  return { type: 'directory', entries: () => entries };
}
