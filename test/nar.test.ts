import { createHash } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { narTreeOf as fsNode } from '../node/own-log/nar-fs.ts';
import { MalformedError } from '../protocol/errors.ts';
import { narChunks, narHash } from '../protocol/nar.ts';
import { memoryDirectory, memoryFile, memorySymlink, type NarNode } from '../protocol/nar-tree.ts';
import { encodeNix32 } from '../protocol/nix32.ts';
import { unpackTrees } from './helpers/nar-fs.ts';
import { fixture, VECTORS } from './helpers/nix-fixtures.ts';
import { type RefTree, refTreeNode, refTrees } from './helpers/random-trees.ts';

async function narBytes(node: NarNode): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of narChunks(node)) chunks.push(c);
  return Buffer.concat(chunks);
}

let trees: Awaited<ReturnType<typeof unpackTrees>>;
test.before(async () => {
  trees = await unpackTrees();
});
test.after.always(async () => {
  await trees?.cleanup();
});

for (const v of VECTORS.vectors) {
  test(`${v.name}: NAR of the tree equals nix-store --dump byte for byte; hash and size match`, async (t) => {
    const root = join(trees.dir, v.name);
    const expected = fixture(v.narFile);
    t.true((await narBytes(await fsNode(root))).equals(expected));
    const { hash, size } = await narHash(await fsNode(root));
    t.is(size, v.narSize);
    t.is(`sha256:${encodeNix32(hash)}`, v.narHash);
    t.is(`sha256-${Buffer.from(hash).toString('base64')}`, v.narHashSRI);
    t.is(Buffer.from(hash).toString('hex'), v.narHashHex);
  });
}

test('in-memory trees serialize like the real ones (tv-file, tv-exe, tv-symlink)', async (t) => {
  const same = async (node: NarNode, name: string) =>
    t.true((await narBytes(node)).equals(fixture(`nar/${name}.nar`)), name);
  await same(memoryFile('hello trustix\n', { chunkSize: 3 }), 'tv-file');
  await same(memoryFile('#!/bin/sh\necho hi\n', { executable: true }), 'tv-exe');
  await same(memorySymlink('/etc/hostname-does-not-matter'), 'tv-symlink');
});

test('directory entries are sorted by UTF-8 bytes, not JS string order', async (t) => {
  // U+FF61 is EF BD A1 in UTF-8, U+1F600 is F0 9F 98 80; in UTF-16, U+1F600 (D83D DE00) sorts first.
  const names = ['\u{1F600}', '\uFF61', 'b', 'B', 'a.b', 'a-b'];
  const nar = await narBytes(memoryDirectory(names.map((n) => [n, memoryFile(n)] as const)));
  const positions = ['B', 'a-b', 'a.b', 'b', '\uFF61', '\u{1F600}'].map((n) =>
    nar.indexOf(Buffer.concat([refStr('name'), refStr(n)])),
  );
  t.false(positions.includes(-1));
  t.deepEqual(
    positions,
    [...positions].sort((x, y) => x - y),
  );
});

test('names and symlink targets may be raw bytes (not UTF-8)', async (t) => {
  const name = new Uint8Array([0x66, 0xff, 0x80]);
  const nar = await narBytes(memoryDirectory([[name, memorySymlink(new Uint8Array([0xfe, 0x2f, 0x61]))]]));
  t.true(nar.includes(Buffer.from(name)));
  t.true(nar.includes(Buffer.from([0xfe, 0x2f, 0x61])));
});

test('large file contents stream through uncopied and hash like one buffer', async (t) => {
  const piece = new Uint8Array(1 << 20).fill(0x5a);
  const pieces = 8;
  const node: NarNode = {
    type: 'regular',
    executable: false,
    size: piece.length * pieces + 5,
    async *contents() {
      for (let i = 0; i < pieces; i++) yield piece;
      yield new Uint8Array(5);
    },
  };
  let passedThrough = 0;
  const whole = createHash('sha256');
  let size = 0;
  for await (const c of narChunks(node)) {
    if (c === piece) passedThrough++;
    whole.update(c);
    size += c.length;
  }
  t.is(passedThrough, pieces);
  const { hash, size: hashedSize } = await narHash(node);
  t.is(hashedSize, size);
  t.deepEqual(hash, new Uint8Array(whole.digest()));
  // Magic (24), "(" "type" "regular" "contents" ")" (16 each), the size field, 5 bytes + 3 of padding.
  t.is(size, 24 + 5 * 16 + 8 + piece.length * pieces + 8);
});

// An obviously correct, non-streaming encoder to hold the streaming one to.
function refStr(b: Uint8Array | string): Buffer {
  const bytes = typeof b === 'string' ? Buffer.from(b) : Buffer.from(b);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(bytes.length));
  return Buffer.concat([len, bytes, Buffer.alloc((8 - (bytes.length % 8)) % 8)]);
}
function refNar(tree: RefTree): Buffer {
  const s = (...xs: (string | Uint8Array)[]) => xs.map(refStr);
  if ('file' in tree)
    return Buffer.concat([
      ...s('(', 'type', 'regular'),
      ...(tree.exe ? s('executable', '') : []),
      ...s('contents', tree.file, ')'),
    ]);
  if ('link' in tree) return Buffer.concat(s('(', 'type', 'symlink', 'target', tree.link, ')'));
  const sorted = [...tree.dir].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const entries = sorted.flatMap(([n, c]) => [...s('entry', '(', 'name', n, 'node'), refNar(c), ...s(')')]);
  return Buffer.concat([...s('(', 'type', 'directory'), ...entries, ...s(')')]);
}

test('property: streamed NAR of random trees equals a plain reference encoding', async (t) => {
  const tree = refTrees('abAB-.~_\u00e9\uFF61', 40_000);
  await fc.assert(
    fc.asyncProperty(tree, fc.integer({ min: 1, max: 70_000 }), async (tr, chunkSize) => {
      const magic = refStr('nix-archive-1');
      t.true((await narBytes(refTreeNode(tr, chunkSize))).equals(Buffer.concat([magic, refNar(tr)])));
    }),
    { numRuns: 60 },
  );
});

const file = memoryFile('x');
const BAD_TREES: [string, NarNode][] = [
  [
    'duplicate names',
    memoryDirectory([
      ['a', file],
      ['a', file],
    ]),
  ],
  [
    'duplicate names, one given as bytes',
    memoryDirectory([
      ['a', file],
      [new Uint8Array([0x61]), file],
    ]),
  ],
  ['an empty name', memoryDirectory([['', file]])],
  ['the name "."', memoryDirectory([['.', file]])],
  ['the name ".."', memoryDirectory([['..', file]])],
  ['a name with "/"', memoryDirectory([['a/b', file]])],
  ['a name with NUL', memoryDirectory([['a\0b', file]])],
  ['a bad name in a nested directory', memoryDirectory({ sub: memoryDirectory([['..', file]]) })],
  [
    'a file yielding more than its size',
    { type: 'regular', executable: false, size: 3, contents: () => [new Uint8Array(4)] },
  ],
  [
    'a file yielding less than its size',
    { type: 'regular', executable: false, size: 5, contents: () => [new Uint8Array(4)] },
  ],
  [
    'a file yielding less across chunks',
    { type: 'regular', executable: false, size: 9, contents: () => [new Uint8Array(4), new Uint8Array(4)] },
  ],
  ['a negative size', { type: 'regular', executable: false, size: -1, contents: () => [] }],
  ['a fractional size', { type: 'regular', executable: false, size: 1.5, contents: () => [] }],
  ['an empty symlink target', memorySymlink('')],
  ['a symlink target with NUL', memorySymlink('a\0b')],
  ['an unknown node type', { type: 'fifo' } as unknown as NarNode],
];

for (const [what, node] of BAD_TREES) {
  test(`NAR refuses ${what} with MalformedError`, async (t) => {
    await t.throwsAsync(narHash(node), { instanceOf: MalformedError });
  });
}
