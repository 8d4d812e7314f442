/**
 * Random file trees for property tests of the NAR code: plain data (RefTree, for a reference encoder)
 * and the same tree as a NarNode (protocol/nar-tree.ts) for the code under test.
 */
import fc from 'fast-check';
import { memoryDirectory, memoryFile, memorySymlink, type NarNode } from '../../protocol/nar-tree.ts';

export type RefTree = { file: Uint8Array; exe: boolean } | { link: string } | { dir: [string, RefTree][] };

/**
 * Small trees: directories of at most 5 entries named by 1-6 characters of `alphabet` (never `.` or
 * `..`), files of up to `maxFile` bytes, symlinks to any target without NUL.
 */
export function refTrees(alphabet: string, maxFile: number): fc.Arbitrary<RefTree> {
  const name = fc
    .string({ unit: fc.constantFrom(...alphabet), minLength: 1, maxLength: 6 })
    .filter((n) => n !== '.' && n !== '..');
  return fc.letrec<{ tree: RefTree }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({ file: fc.uint8Array({ maxLength: maxFile }), exe: fc.boolean() }),
      fc.record({ link: fc.string({ minLength: 1, maxLength: 30 }).filter((x) => !x.includes('\0')) }),
      fc.record({ dir: fc.uniqueArray(fc.tuple(name, tie('tree')), { maxLength: 5, selector: ([n]) => n }) }),
    ),
  })).tree;
}

/** `tree` as an in-memory NarNode whose files stream in chunks of `chunkSize` bytes. */
export function refTreeNode(tree: RefTree, chunkSize: number): NarNode {
  if ('file' in tree) return memoryFile(tree.file, { executable: tree.exe, chunkSize });
  if ('link' in tree) return memorySymlink(tree.link);
  return memoryDirectory(tree.dir.map(([n, c]) => [n, refTreeNode(c, chunkSize)] as const));
}
