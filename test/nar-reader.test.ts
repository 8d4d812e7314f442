import { createHash } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { narTreeOf } from '../node/own-log/nar-fs.ts';
import { MalformedError, TooLargeError } from '../protocol/errors.ts';
import { narChunks } from '../protocol/nar.ts';
import {
  compareNarPaths,
  escapeNarName,
  type NarEvent,
  type NarReaderLimits,
  narNameBytes,
  readNar,
} from '../protocol/nar-reader.ts';
import { memoryDirectory, memoryFile, memorySymlink, type NarNode } from '../protocol/nar-tree.ts';
import { unpackTrees } from './helpers/nar-fs.ts';
import { fixture, VECTORS } from './helpers/nix-fixtures.ts';
import { refTreeNode, refTrees } from './helpers/random-trees.ts';

async function events(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  limits?: NarReaderLimits,
): Promise<NarEvent[]> {
  const out: NarEvent[] = [];
  for await (const e of readNar(chunks, limits)) out.push(e);
  return out;
}

function* pieces(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function narBytes(node: NarNode): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of narChunks(node)) chunks.push(c);
  return Buffer.concat(chunks);
}

const asBytes = (s: string | Uint8Array) => (typeof s === 'string' ? Buffer.from(s) : s);

/** The events a tree should read back as, computed from the tree itself (not through a NAR). */
async function treeEvents(n: NarNode, path = ''): Promise<NarEvent[]> {
  if (n.type === 'regular') {
    const h = createHash('sha256');
    let size = 0;
    for await (const c of n.contents()) {
      h.update(c);
      size += c.length;
    }
    return [{ path, type: 'regular', executable: n.executable, size, sha256: new Uint8Array(h.digest()) }];
  }
  if (n.type === 'symlink') return [{ path, type: 'symlink', target: escapeNarName(asBytes(n.target)) }];
  const entries = (await n.entries())
    .map((e) => ({ name: asBytes(e.name), e }))
    .sort((x, y) => Buffer.compare(x.name, y.name));
  const out: NarEvent[] = [{ path, type: 'directory' }];
  for (const { name, e } of entries) {
    const child = path === '' ? escapeNarName(name) : `${path}/${escapeNarName(name)}`;
    out.push(...(await treeEvents(await e.node(), child)));
  }
  return out;
}

let trees: Awaited<ReturnType<typeof unpackTrees>>;
test.before(async () => {
  trees = await unpackTrees();
});
test.after.always(async () => {
  await trees?.cleanup();
});

for (const v of VECTORS.vectors) {
  test(`${v.name}: the Nix-made NAR reads as the tree in trees.tar, in any chunking`, async (t) => {
    const expected = await treeEvents(await narTreeOf(join(trees.dir, v.name)));
    const nar = fixture(v.narFile);
    t.deepEqual(await events([nar]), expected);
    t.deepEqual(await events(pieces(nar, 1)), expected);
    t.deepEqual(await events(pieces(nar, 7)), expected);
    t.deepEqual(
      await events(
        (async function* () {
          yield new Uint8Array(0);
          yield* pieces(nar, 13);
        })(),
      ),
      expected,
    );
  });
}

test('tv-dir reads as the expected listing, in NAR order', async (t) => {
  const list = (await events([fixture('nar/tv-dir.nar')])).map((e) =>
    e.type === 'regular' ? `${e.path} ${e.size}${e.executable ? ' x' : ''}` : `${e.path} ${e.type}`,
  );
  t.deepEqual(list, [
    ' directory',
    'B 8',
    'a 8',
    'a-b 4',
    'a.b 4',
    'bin directory',
    'bin/hello 23 x',
    'dangling-abs symlink',
    'empty-dir directory',
    'empty-file 0',
    'exactly8 8',
    'link-to-hello symlink',
    'share directory',
    'share/doc directory',
    'share/doc/README 7',
  ]);
  const [file] = await events([fixture('nar/tv-file.nar')]);
  t.deepEqual(file, {
    path: '',
    type: 'regular',
    executable: false,
    size: 14,
    sha256: new Uint8Array(createHash('sha256').update('hello trustix\n').digest()),
  });
});

test('property: random trees round-trip through narChunks and readNar, whatever the chunking', async (t) => {
  const tree = refTrees('abAB-.~_\\\n\u00e9\uFF61\u{1F600}', 5000);
  await fc.assert(
    fc.asyncProperty(tree, fc.integer({ min: 1, max: 3000 }), async (tr, chunk) => {
      const nar = await narBytes(refTreeNode(tr, 1000));
      t.deepEqual(await events(pieces(nar, chunk)), await treeEvents(refTreeNode(tr, 1000)));
    }),
    { numRuns: 80 },
  );
});

test('names and targets that are not UTF-8 (or hold controls or backslashes) are escaped losslessly', async (t) => {
  const nar = await narBytes(
    memoryDirectory([
      [new Uint8Array([0x66, 0xff, 0x80]), memorySymlink(new Uint8Array([0xfe, 0x2f, 0x61]))],
      ['a\\b', memoryFile('')],
      ['new\nline', memoryFile('')],
      ['\u00e9\u{1F600}', memoryFile('')],
    ]),
  );
  t.deepEqual(
    (await events([nar])).map((e) => [e.path, e.type === 'symlink' ? e.target : e.type]),
    [
      ['', 'directory'],
      ['a\\\\b', 'regular'],
      ['f\\xff\\x80', '\\xfe/a'],
      ['new\\x0aline', 'regular'],
      ['\u00e9\u{1F600}', 'regular'],
    ],
  );
  // Overlong, surrogate, beyond U+10FFFF, cut short, C1 control, DEL.
  t.is(escapeNarName(Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80])), '\\xc0\\xaf\\xed\\xa0\\x80');
  t.is(escapeNarName(Buffer.from([0xf4, 0x90, 0x80, 0x80, 0xe2, 0x82])), '\\xf4\\x90\\x80\\x80\\xe2\\x82');
  t.is(escapeNarName(Buffer.from([0xc2, 0x9b, 0x7f, 0x41])), '\\xc2\\x9b\\x7fA');
});

test('property: narNameBytes inverts escapeNarName, so escaped names are distinct exactly when the bytes are', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (x, y) => {
      const ex = escapeNarName(x);
      t.deepEqual(Buffer.from(narNameBytes(ex)), Buffer.from(x));
      t.is(ex === escapeNarName(y), Buffer.from(x).equals(y));
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('compareNarPaths is NAR order: by name bytes, component by component, ancestors first', (t) => {
  const paths = [
    '',
    'bin',
    'bin/hello',
    'bin-x',
    'B',
    '\uFF61',
    '\u{1F600}',
    'a/b/c',
    'a',
    'a/b',
    'a.b',
    '\\xff',
  ];
  t.deepEqual([...paths].sort(compareNarPaths), [
    '',
    'B',
    'a',
    'a/b',
    'a/b/c',
    'a.b',
    'bin',
    'bin/hello',
    'bin-x',
    '\uFF61',
    '\u{1F600}',
    '\\xff',
  ]);
});

// A plain encoder for hand-made (and broken) NARs.
function str(s: string | Uint8Array): Buffer {
  const b = asBytes(s);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([len, b, Buffer.alloc((8 - (b.length % 8)) % 8)]);
}
const strs = (...xs: (string | Uint8Array)[]) => Buffer.concat(xs.map(str));
const file = (contents = 'x') => strs('(', 'type', 'regular', 'contents', contents, ')');
const entry = (name: string | Uint8Array, node: Buffer) =>
  Buffer.concat([strs('entry', '(', 'name', name, 'node'), node, strs(')')]);
const dir = (...entries: Buffer[]) => Buffer.concat([strs('(', 'type', 'directory'), ...entries, strs(')')]);
const nar = (root: Buffer) => Buffer.concat([str('nix-archive-1'), root]);
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};
const withByte = (b: Uint8Array, at: number, value: number) => {
  const c = Buffer.from(b);
  c[at] = value;
  return c;
};

test('hand-made NARs read as expected (sanity check of the test encoder)', async (t) => {
  const ok = nar(dir(entry('a', file()), entry('b', dir(entry('c', file('xy'))))));
  t.deepEqual(
    (await events([ok])).map((e) => e.path),
    ['', 'a', 'b', 'b/c'],
  );
  t.true(nar(file('hello trustix\n')).equals(fixture('nar/tv-file.nar')));
});

const BAD: [string, Uint8Array, RegExp][] = [
  ['empty input', new Uint8Array(0), /truncated/],
  ['bad magic', Buffer.concat([str('nix-archive-2'), file()]), /not a NAR/],
  ['magic of the wrong length', Buffer.concat([str('nix-archive'), file()]), /not a NAR/],
  ['non-zero padding after the magic', withByte(fixture('nar/tv-file.nar'), 23, 1), /non-zero padding/],
  [
    'non-zero padding after file contents',
    withByte(fixture('nar/tv-file.nar'), 111, 0x20),
    /non-zero padding/,
  ],
  ['non-zero padding after a name', withByte(nar(dir(entry('a', file()))), 137, 1), /padding/],
  ['unsorted entries', nar(dir(entry('b', file()), entry('a', file()))), /unsorted/],
  [
    'entries in UTF-16 rather than byte order',
    nar(dir(entry('\u{1F600}', file()), entry('\uFF61', file()))),
    /unsorted/,
  ],
  ['duplicate names', nar(dir(entry('a', file()), entry('a', file()))), /duplicate/],
  ['an empty name', nar(dir(entry('', file()))), /invalid entry name/],
  ['the name "."', nar(dir(entry('.', file()))), /invalid entry name/],
  ['the name ".."', nar(dir(entry('..', file()))), /invalid entry name/],
  ['a slash in a name', nar(dir(entry('a/b', file()))), /invalid entry name/],
  ['a NUL in a name', nar(dir(entry('a\0b', file()))), /invalid entry name/],
  ['trailing bytes', Buffer.concat([fixture('nar/tv-file.nar'), Buffer.alloc(8)]), /trailing data/],
  ['one trailing byte', Buffer.concat([fixture('nar/tv-dir.nar'), Buffer.of(0)]), /trailing data/],
  [
    'a second NAR after the first',
    Buffer.concat([fixture('nar/tv-file.nar'), fixture('nar/tv-file.nar')]),
    /trailing/,
  ],
  ['an unknown node type', nar(strs('(', 'type', 'fifo', ')')), /unknown node type/],
  [
    'a non-empty executable marker',
    nar(strs('(', 'type', 'regular', 'executable', 'x', 'contents', '', ')')),
    /marker/,
  ],
  [
    'executable after contents',
    nar(strs('(', 'type', 'regular', 'contents', '', 'executable', '', ')')),
    /expected "\)"/,
  ],
  ['a regular file without contents', nar(strs('(', 'type', 'regular', ')')), /expected "contents"/],
  ['a missing "type"', nar(strs('(', 'regular', 'contents', '', ')')), /expected "type"/],
  ['a long string where a keyword belongs', nar(strs('(', 'type', 'x'.repeat(100))), /expected a node type/],
  ['an entry without "("', nar(strs('(', 'type', 'directory', 'entry', 'name', 'a')), /expected "\("/],
  ['junk instead of an entry', nar(strs('(', 'type', 'directory', 'entri', ')')), /expected "entry" or "\)"/],
  ['an empty symlink target', nar(strs('(', 'type', 'symlink', 'target', '', ')')), /empty symlink target/],
  ['a NUL in a symlink target', nar(strs('(', 'type', 'symlink', 'target', 'a\0b', ')')), /NUL/],
  [
    'a file size over 2^53',
    Buffer.concat([str('nix-archive-1'), strs('(', 'type', 'regular', 'contents'), u64(1n << 60n)]),
    /file size .* too large/,
  ],
  [
    'a file cut short',
    Buffer.concat([
      str('nix-archive-1'),
      strs('(', 'type', 'regular', 'contents'),
      u64(100n),
      Buffer.alloc(50),
    ]),
    /truncated .*file contents/,
  ],
];

for (const [what, bytes, message] of BAD) {
  test(`readNar refuses ${what}`, async (t) => {
    const err = await t.throwsAsync(events([bytes]), { instanceOf: MalformedError, message });
    t.is(err?.what, 'NAR');
  });
}

test('readNar refuses every truncation of a NAR, at every offset and in every chunking', async (t) => {
  const full = fixture('nar/tv-dir.nar');
  for (let n = 0; n < full.length; n++) {
    await t.throwsAsync(events(pieces(full.subarray(0, n), 1 + (n % 64))), {
      instanceOf: MalformedError,
      message: /truncated/,
    });
  }
});

function nested(depth: number): NarNode {
  let node: NarNode = memoryFile('deep');
  for (let i = 0; i < depth; i++) node = memoryDirectory({ d: node });
  return node;
}

test('nesting depth is limited (default 256)', async (t) => {
  // nested(n): n directories around a file, which is at depth n.
  t.is((await events([await narBytes(nested(256))])).length, 256 + 1);
  await t.throwsAsync(events([await narBytes(nested(257))]), {
    instanceOf: MalformedError,
    message: /deeper than 256/,
  });
  await t.notThrowsAsync(events([await narBytes(nested(3))], { maxDepth: 3 }));
  await t.throwsAsync(events([await narBytes(nested(4))], { maxDepth: 3 }), { message: /deeper than 3/ });
});

test('name and target lengths are limited before they are read', async (t) => {
  const named = (n: number) => nar(dir(entry('a'.repeat(n), file())));
  await t.notThrowsAsync(events([named(4096)]));
  const err = await t.throwsAsync(events([named(4097)]), { instanceOf: TooLargeError });
  t.is(err?.limit, 4096);
  await t.throwsAsync(events([named(11)], { maxNameLength: 10 }), { instanceOf: TooLargeError });
  // A declared length of 2^63 is refused without waiting for the bytes.
  const huge = Buffer.concat([
    str('nix-archive-1'),
    strs('(', 'type', 'directory', 'entry', '(', 'name'),
    u64(1n << 63n),
  ]);
  await t.throwsAsync(events([huge]), { instanceOf: TooLargeError });
  const link = (n: number) => nar(strs('(', 'type', 'symlink', 'target', 'x'.repeat(n), ')'));
  await t.notThrowsAsync(events([link(4096)]));
  await t.throwsAsync(events([link(4097)]), { instanceOf: TooLargeError });
  await t.throwsAsync(events([link(9)], { maxTargetLength: 8 }), { instanceOf: TooLargeError });
});

test('the number of nodes and the total size are limited', async (t) => {
  const tvDir = fixture('nar/tv-dir.nar');
  await t.notThrowsAsync(events([tvDir], { maxEntries: 15, maxSize: tvDir.length }));
  await t.throwsAsync(events([tvDir], { maxEntries: 14 }), {
    instanceOf: MalformedError,
    message: /more than 14 nodes/,
  });
  await t.throwsAsync(events(pieces(tvDir, 100), { maxSize: tvDir.length - 1 }), {
    instanceOf: TooLargeError,
  });
  // A file declaring more than the limit is refused before its contents are awaited.
  const declared = Buffer.concat([
    str('nix-archive-1'),
    strs('(', 'type', 'regular', 'contents'),
    u64(1n << 40n),
  ]);
  await t.throwsAsync(events([declared], { maxSize: 1 << 20 }), { instanceOf: TooLargeError });
});

test('stopping early closes the input; a failing input fails the reading', async (t) => {
  let closed = false;
  const source = (async function* () {
    try {
      yield* pieces(fixture('nar/tv-dir.nar'), 8);
    } finally {
      closed = true;
    }
  })();
  for await (const e of readNar(source)) {
    t.is(e.path, '');
    break;
  }
  t.true(closed);
  const failing = (async function* () {
    yield fixture('nar/tv-dir.nar').subarray(0, 100);
    throw new Error('connection reset');
  })();
  await t.throwsAsync(events(failing), { message: 'connection reset' });
});
