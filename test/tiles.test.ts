// C2SP tlog-tiles: paths, tile math, the sequencer's appendLeaves, the verifying tile hash reader and
// entry bundles.
import test from 'ava';
import fc from 'fast-check';
import { proveConsistency, verifyConsistency } from '../protocol/consistency-proof.ts';
import { decodeEntryBundle, encodeEntryBundle } from '../protocol/entry-bundle.ts';
import { MalformedError, OutOfRangeError, TooLargeError, VerificationError } from '../protocol/errors.ts';
import { proveInclusion, verifyInclusion } from '../protocol/inclusion-proof.ts';
import { MemoryTree } from '../protocol/memory-tree.ts';
import { type Hash, leafHash, rootFromLeafHashes, treeHash } from '../protocol/merkle.ts';
import { appendLeaves } from '../protocol/tile-edge.ts';
import { type TileReader, tileHashReader } from '../protocol/tile-hash-reader.ts';
import { formatTilePath, type HashTile, parseTilePath, type TileId } from '../protocol/tile-path.ts';
import { edgeTiles, hashFromTile, newTiles, type TileData, treeTiles } from '../protocol/tiles.ts';
import { readSharedJson, requireShared } from './helpers/shared.ts';

const hex = (h: Uint8Array): string => Buffer.from(h).toString('hex');
const keyOf = (t: HashTile): string => `${t.level}/${t.index}/${t.width}`;
const keys = (tiles: readonly HashTile[]): string[] => tiles.map(keyOf);

// ---------------------------------------------------------------- paths

const goVectors = requireShared('tlog-vectors/signed-note/note-vectors.json', 'Go tile path vectors');
if (goVectors !== undefined) {
  type GoTile = [number, number, number, number];
  const vectors = readSharedJson<{ tlog: { go_tile_paths_H_in_path: [string, GoTile | 'invalid'][] } }>(
    goVectors,
  ).tlog.go_tile_paths_H_in_path;
  for (const [goPath, want] of vectors) {
    // Go writes tile/H/L/N[.p/W] with L = "data" for entries; C2SP fixes H = 8 and drops it.
    const path = goPath.replace(/^tile\/[^/]+\//, 'tile/').replace(/^tile\/data\//, 'tile/entries/');
    if (want === 'invalid') {
      test(`Go tile path ${goPath} as C2SP ${path}: rejected`, (t) => {
        t.throws(() => parseTilePath(path), { instanceOf: MalformedError });
      });
      continue;
    }
    const [h, level, index, w] = want;
    const width = w === 2 ** h ? 256 : w; // a full Go tile of height H is a full C2SP tile
    const tile: TileId =
      level < 0 ? { kind: 'entries', index, width } : { kind: 'hash', level, index, width };
    test(`Go tile path ${goPath} as C2SP ${path}: parses to ${JSON.stringify(tile)} and formats back`, (t) => {
      t.deepEqual(parseTilePath(path), tile);
      t.is(formatTilePath(tile), path);
    });
  }
}

test('tile indices are written in x-prefixed 3-digit groups', (t) => {
  const cases: [TileId, string][] = [
    [{ kind: 'hash', level: 0, index: 1234067, width: 256 }, 'tile/0/x001/x234/067'],
    [{ kind: 'hash', level: 0, index: 5, width: 256 }, 'tile/0/005'],
    [{ kind: 'hash', level: 2, index: 0, width: 1 }, 'tile/2/000.p/1'],
    [{ kind: 'hash', level: 63, index: 1000, width: 255 }, 'tile/63/x001/000.p/255'],
    [{ kind: 'entries', index: 999, width: 256 }, 'tile/entries/999'],
    [{ kind: 'entries', index: 1234067, width: 17 }, 'tile/entries/x001/x234/067.p/17'],
    [
      { kind: 'hash', level: 1, index: Number.MAX_SAFE_INTEGER, width: 256 },
      'tile/1/x009/x007/x199/x254/x740/991',
    ],
  ];
  for (const [tile, path] of cases) {
    t.is(formatTilePath(tile), path);
    t.deepEqual(parseTilePath(path), tile);
  }
});

test('formatTilePath and parseTilePath round-trip every level, index and width', (t) => {
  const tileArb: fc.Arbitrary<TileId> = fc.oneof(
    fc.record({
      kind: fc.constant('hash' as const),
      level: fc.integer({ min: 0, max: 63 }),
      index: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.maxSafeNat()),
      width: fc.integer({ min: 1, max: 256 }),
    }),
    fc.record({
      kind: fc.constant('entries' as const),
      index: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.maxSafeNat()),
      width: fc.integer({ min: 1, max: 256 }),
    }),
  );
  fc.assert(
    fc.property(
      tileArb,
      (tile) => JSON.stringify(parseTilePath(formatTilePath(tile))) === JSON.stringify(tile),
    ),
  );
  t.pass();
});

const BAD_PATHS = [
  'tile/0/x000/005', // leading zero group
  'tile/0/x000/x001/005',
  'tile/0/05',
  'tile/0/0005',
  'tile/0/x1/005',
  'tile/00/005', // level with a leading zero
  'tile/01/005',
  'tile/64/005', // level above 63
  'tile/100/005',
  'tile/-1/005', // negative
  'tile/0/-05',
  'tile/0/005.p/0', // widths
  'tile/0/005.p/256',
  'tile/0/005.p/300',
  'tile/0/005.p/05',
  'tile/0/005.p/',
  'tile/0/005.p/+1',
  'tile/0/005.p/1/',
  'tile/entries/005.p/256',
  'tile/entries/005.p/0',
  'tile/0/0a5', // non-digits
  'tile/0/0x5',
  'tile/x/005',
  'tile/0/１２３',
  'tile/entries/x000/001',
  'tile/0/005/', // trailing slash and other structure
  'tile/0/x005',
  'tile/0/x001/',
  'tile/0//005',
  '/tile/0/005',
  'tile/0/005\n',
  ' tile/0/005',
  'TILE/0/005',
  'tile/0',
  'tile/data/005',
  'tile/8/0/005',
  '',
  'tile/0/x009/x007/x199/x254/x740/992', // 2^53: beyond safe integers
  'tile/0/x999/x999/x999/x999/x999/999',
  'tile/0/x001/x001/x001/x001/x001/x001/001', // seven groups
  `tile/0/${'x001/'.repeat(40)}001`, // over the length cap
];
for (const path of BAD_PATHS) {
  test(`parseTilePath rejects ${JSON.stringify(path)} as MalformedError`, (t) => {
    t.throws(() => parseTilePath(path), { instanceOf: MalformedError });
  });
}

test('parseTilePath refuses an over-long path before parsing, as TooLargeError', (t) => {
  t.throws(() => parseTilePath(`tile/0/${'x001/'.repeat(40)}001`), { instanceOf: TooLargeError });
});

test('formatTilePath refuses levels, indices and widths out of range', (t) => {
  const bad: TileId[] = [
    { kind: 'hash', level: -1, index: 0, width: 1 },
    { kind: 'hash', level: 64, index: 0, width: 1 },
    { kind: 'hash', level: 0.5, index: 0, width: 1 },
    { kind: 'hash', level: 0, index: -1, width: 1 },
    { kind: 'hash', level: 0, index: 2 ** 53, width: 1 },
    { kind: 'hash', level: 0, index: 1.5, width: 1 },
    { kind: 'hash', level: 0, index: 0, width: 0 },
    { kind: 'entries', index: 0, width: 257 },
  ];
  for (const tile of bad)
    t.throws(() => formatTilePath(tile), { instanceOf: OutOfRangeError }, JSON.stringify(tile));
});

// ---------------------------------------------------------------- tile math

test('a tree of 70,000 leaves has the tiles of the C2SP example', (t) => {
  const tiles = treeTiles(70_000);
  const count = (level: number, full: boolean) =>
    tiles.filter((x) => x.level === level && (x.width === 256) === full).length;
  t.is(count(0, true), 273);
  t.deepEqual(keys(tiles.filter((x) => x.width < 256)), ['0/273/112', '1/1/17', '2/0/1']);
  t.is(count(1, true), 1);
  t.is(tiles.length, 273 + 1 + 1 + 1 + 1);
  t.deepEqual(keys(treeTiles(256)), ['0/0/256', '1/0/1']);
  t.deepEqual(keys(edgeTiles(70_000)), ['0/273/112', '1/1/17', '2/0/1']);
  t.deepEqual(treeTiles(0), []);
});

test('newTiles(m, n) is exactly the tiles of size n that size m does not have; edgeTiles are its partial ones', (t) => {
  const size = fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 300_000 }));
  fc.assert(
    fc.property(size, size, (a, b) => {
      const [m, n] = a <= b ? [a, b] : [b, a];
      const before = new Set(keys(treeTiles(m)));
      const want = keys(treeTiles(n)).filter((k) => !before.has(k));
      const edge = keys(treeTiles(n).filter((x) => x.width < 256));
      return (
        JSON.stringify(keys(newTiles(m, n))) === JSON.stringify(want) &&
        JSON.stringify(keys(edgeTiles(n))) === JSON.stringify(edge)
      );
    }),
    { numRuns: 100 },
  );
  t.throws(() => newTiles(5, 4), { instanceOf: OutOfRangeError });
});

// ---------------------------------------------------------------- appendLeaves

const BIG = 70_000; // reaches level-2 tiles
const leaves: Hash[] = Array.from({ length: BIG }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
const smallTree = MemoryTree.fromLeafHashes(leaves.slice(0, 3000));

/** A static tile store: the latest body of every (level, index), served cut down to the asked width. */
class TileStore implements TileReader {
  readonly latest = new Map<string, Uint8Array>();
  reads = 0;

  write(tiles: readonly TileData[]): void {
    for (const { tile, data } of tiles) this.latest.set(`${tile.level}/${tile.index}`, data);
  }

  edge(size: number): TileData[] {
    return edgeTiles(size).map((tile) => ({ tile, data: this.body(tile) }));
  }

  body(tile: HashTile): Uint8Array {
    const data = this.latest.get(`${tile.level}/${tile.index}`);
    if (data === undefined || data.length < tile.width * 32) throw new Error(`no tile ${keyOf(tile)}`);
    return data.subarray(0, tile.width * 32);
  }

  readTiles(tiles: readonly HashTile[]): Uint8Array[] {
    this.reads++;
    return tiles.map((tile) => this.body(tile));
  }
}

/** Builds `leaves` into a store in batches of the given sizes; checks every step on the way. */
function buildInBatches(
  all: readonly Hash[],
  batches: readonly number[],
  check?: (size: number, root: Hash, tiles: TileData[], oldSize: number) => void,
): TileStore {
  const store = new TileStore();
  let size = 0;
  for (const b of batches) {
    const result = appendLeaves(size, store.edge(size), all.slice(size, size + b));
    check?.(result.size, result.root, result.tiles, size);
    store.write(result.tiles);
    size = result.size;
  }
  return store;
}

function splits(total: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 0, max: total }), { maxLength: 12 }).map((cuts) => {
    const points = [0, ...cuts.sort((a, b) => a - b), total];
    return points.slice(1).map((p, i) => p - points[i]!);
  });
}

test('appendLeaves in random batch splits gives the same tiles and roots as one batch, and writes exactly newTiles', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 3000 }).chain((n) => fc.tuple(fc.constant(n), splits(n))),
      ([n, batches]) => {
        const once = buildInBatches(leaves, [n]);
        const split = buildInBatches(leaves, batches, (size, root, tiles, oldSize) => {
          if (hex(root) !== hex(smallTree.root(size))) throw new Error(`root of ${size} differs`);
          if (keys(tiles.map((x) => x.tile)).join() !== keys(newTiles(oldSize, size)).join())
            throw new Error(`tiles written for ${oldSize} -> ${size} differ from newTiles`);
        });
        const flat = (s: TileStore) => [...s.latest].map(([k, v]) => `${k}:${hex(v)}`).sort();
        return JSON.stringify(flat(once)) === JSON.stringify(flat(split));
      },
    ),
    { numRuns: 100 },
  );
  t.pass();
});

test('appendLeaves grows a tree across level-2 tiles (70,000 leaves in uneven batches) to the in-memory root', (t) => {
  const store = buildInBatches(leaves, [1, 255, 65_279, 1, 3000, 1464], (size, root) => {
    if (size === BIG) t.is(hex(root), hex(rootFromLeafHashes(leaves)));
  });
  t.is(store.latest.size, treeTiles(BIG).length);
  t.is(hex(appendLeaves(BIG, store.edge(BIG), []).root), hex(rootFromLeafHashes(leaves)));
});

test('appendLeaves refuses an edge that does not match the size', (t) => {
  const store = buildInBatches(leaves, [300]);
  const edge = store.edge(300); // tiles 0/1.p/44 and 1/0.p/1
  const bad: [string, TileData[]][] = [
    ['missing tile', edge.slice(1)],
    ['extra tile', [...edge, edge[0]!]],
    ['duplicate level', [edge[0]!, edge[0]!]],
    [
      'wrong width',
      [{ tile: { ...edge[0]!.tile, width: 43 }, data: edge[0]!.data.subarray(0, 43 * 32) }, edge[1]!],
    ],
    ['wrong index', [{ tile: { ...edge[0]!.tile, index: 0 }, data: edge[0]!.data }, edge[1]!]],
    ['short body', [{ tile: edge[0]!.tile, data: edge[0]!.data.subarray(1) }, edge[1]!]],
  ];
  for (const [why, e] of bad)
    t.throws(() => appendLeaves(300, e, [leaves[300]!]), { instanceOf: MalformedError }, why);
  t.throws(() => appendLeaves(300, edge, [new Uint8Array(31)]), { instanceOf: MalformedError });
  t.throws(() => appendLeaves(-1, [], []), { instanceOf: OutOfRangeError });
});

// ---------------------------------------------------------------- tile hash reader

const bigStore = buildInBatches(leaves, [BIG]);
const bigRoot = rootFromLeafHashes(leaves);
const smallStore = buildInBatches(leaves, [3000]);

test('hashFromTile gives every stored hash of the tree, including levels between tile levels', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 11 }), fc.nat(), (level, i) => {
      const count = Math.floor(3000 / 2 ** level);
      const id = { level, index: i % count };
      const tileLevel = Math.floor(level / 8);
      const tile = treeTiles(3000).find(
        (x) => x.level === tileLevel && x.index === Math.floor((id.index * 2 ** (level % 8)) / 256),
      )!;
      return hex(hashFromTile(tile, smallStore.body(tile), id)) === hex(smallTree.readHashes([id])[0]!);
    }),
    { numRuns: 200 },
  );
  t.throws(
    () =>
      hashFromTile(
        { kind: 'hash', level: 0, index: 0, width: 256 },
        smallStore.body({ kind: 'hash', level: 0, index: 0, width: 256 }),
        { level: 0, index: 256 },
      ),
    { instanceOf: OutOfRangeError },
  );
  t.throws(
    () =>
      hashFromTile({ kind: 'hash', level: 0, index: 0, width: 256 }, new Uint8Array(100), {
        level: 0,
        index: 0,
      }),
    { instanceOf: MalformedError },
  );
});

test('proofs built from a verified tile reader match the in-memory tree and verify (random trees up to 3000)', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 3000 }).chain((n) => fc.tuple(fc.constant(n), fc.nat(n - 1), fc.nat(n))),
      async ([size, index, m]) => {
        const root = smallTree.root(size);
        const reader = tileHashReader(size, root, smallStore);
        if (hex(await treeHash(size, reader)) !== hex(root)) return false;
        const incl = await proveInclusion(size, index, reader);
        verifyInclusion(index, size, leaves[index]!, incl, root);
        const cons = await proveConsistency(m, size, reader);
        verifyConsistency(m, size, smallTree.root(m), root, cons);
        return (
          incl.map(hex).join() === smallTree.inclusionProof(index, size).map(hex).join() &&
          cons.map(hex).join() === smallTree.consistencyProof(m, size).map(hex).join()
        );
      },
    ),
    { numRuns: 100 },
  );
  t.pass();
});

test('a verified tile reader over 70,000 leaves proves leaves under full level-1 tiles', async (t) => {
  const saved: string[] = [];
  const reader = tileHashReader(BIG, bigRoot, {
    readTiles: (tiles) => bigStore.readTiles(tiles),
    saveTiles: (tiles) => void saved.push(...keys(tiles)),
  });
  for (const index of [0, 255, 256, 65_535, 65_536, 69_999]) {
    const proof = await proveInclusion(BIG, index, reader);
    verifyInclusion(index, BIG, leaves[index]!, proof, bigRoot);
  }
  const cons = await proveConsistency(65_536, BIG, reader);
  verifyConsistency(65_536, BIG, rootFromLeafHashes(leaves.slice(0, 65_536)), bigRoot, cons);
  t.true(saved.includes('0/0/256') && saved.includes('1/0/256') && saved.includes('2/0/1'));
});

test('a single flipped bit in any tile a read needs is detected as VerificationError', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 3000 }),
      fc.nat(),
      fc.nat(),
      fc.nat(7),
      async (size, which, byte, bit) => {
        const all = treeTiles(size);
        const tile = all[which % all.length]!;
        const at = byte % (tile.width * 32);
        const reader = tileHashReader(size, smallTree.root(size), {
          readTiles: (tiles) =>
            tiles.map((x) => {
              const data = Uint8Array.from(smallStore.body(x));
              if (keyOf(x) === keyOf(tile)) data[at]! ^= 1 << bit;
              return data;
            }),
        });
        // Ask for the very hash holding the flipped byte.
        const id = { level: 8 * tile.level, index: tile.index * 256 + Math.floor(at / 32) };
        try {
          await reader.readHashes([id]);
        } catch (err) {
          return err instanceof VerificationError;
        }
        return false;
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});

test('a tile reader rejects a wrong root, bad bodies, a wrong tile count and hashes outside the tree', async (t) => {
  const size = 1000;
  const root = smallTree.root(size);
  const other = smallTree.root(size - 1);
  await t.throwsAsync(treeHash(size, tileHashReader(size, other, smallStore)), {
    instanceOf: VerificationError,
  });
  const short = {
    readTiles: (tiles: readonly HashTile[]) => smallStore.readTiles(tiles).map((d) => d.subarray(32)),
  };
  await t.throwsAsync(treeHash(size, tileHashReader(size, root, short)), { instanceOf: MalformedError });
  const fewer = { readTiles: (tiles: readonly HashTile[]) => smallStore.readTiles(tiles).slice(1) };
  await t.throwsAsync(treeHash(size, tileHashReader(size, root, fewer)), { instanceOf: MalformedError });
  const reader = tileHashReader(size, root, smallStore);
  await t.throwsAsync(async () => reader.readHashes([{ level: 0, index: 1000 }]), {
    instanceOf: OutOfRangeError,
  });
  await t.throwsAsync(async () => reader.readHashes([{ level: 10, index: 0 }]), {
    instanceOf: OutOfRangeError,
  });
  t.throws(() => tileHashReader(0, root, smallStore), { instanceOf: VerificationError });
  t.deepEqual(await tileHashReader(0, rootFromLeafHashes([]), smallStore).readHashes([]), []);
  t.throws(() => tileHashReader(size, root.subarray(1), smallStore), { instanceOf: MalformedError });
});

// ---------------------------------------------------------------- entry bundles

test('entry bundles round-trip 1..256 entries of any length up to 65535 bytes', (t) => {
  const entry = fc.oneof(
    { weight: 20, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    { weight: 1, arbitrary: fc.constant(new Uint8Array(65_535).fill(9)) },
  );
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 256 }), (entries) => {
      const bytes = encodeEntryBundle(entries);
      const back = decodeEntryBundle(bytes, entries.length);
      return back.length === entries.length && back.every((e, i) => hex(e) === hex(entries[i]!));
    }),
    { numRuns: 100 },
  );
  t.deepEqual(
    [...encodeEntryBundle([Uint8Array.of(0x61, 0x62), new Uint8Array(0)])],
    [0, 2, 0x61, 0x62, 0, 0],
  );
});

test('entry bundles reject truncation, trailing bytes, count mismatch and oversize input', (t) => {
  const entries = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')];
  const bytes = encodeEntryBundle(entries);
  t.throws(() => decodeEntryBundle(bytes.subarray(0, bytes.length - 1), 3), { instanceOf: MalformedError });
  t.throws(() => decodeEntryBundle(bytes.subarray(0, 11), 3), { instanceOf: MalformedError }); // inside a prefix
  t.throws(() => decodeEntryBundle(Uint8Array.of(...bytes, 0), 3), { instanceOf: MalformedError });
  t.throws(() => decodeEntryBundle(Uint8Array.of(...bytes, 0, 0), 3), { instanceOf: MalformedError });
  t.throws(() => decodeEntryBundle(bytes, 2), { instanceOf: MalformedError });
  t.throws(() => decodeEntryBundle(bytes, 4), { instanceOf: MalformedError });
  t.throws(() => decodeEntryBundle(new Uint8Array(0), 1), { instanceOf: MalformedError });
  t.throws(() => decodeEntryBundle(new Uint8Array(2 * 65_537 + 1), 2), { instanceOf: TooLargeError });
  t.throws(() => decodeEntryBundle(bytes, 0), { instanceOf: OutOfRangeError });
  t.throws(() => decodeEntryBundle(bytes, 257), { instanceOf: OutOfRangeError });
  t.throws(() => encodeEntryBundle([new Uint8Array(65_536)]), { instanceOf: TooLargeError });
  t.throws(() => encodeEntryBundle([]), { instanceOf: OutOfRangeError });
  t.throws(() => encodeEntryBundle(Array(257).fill(new Uint8Array(1))), { instanceOf: OutOfRangeError });
});

test('entry bundle entries hash to the level-0 tile built from them', (t) => {
  const entries = Array.from({ length: 256 }, (_, i) => Buffer.from(`entry ${i}`));
  const decoded = decodeEntryBundle(encodeEntryBundle(entries), 256);
  const tile = { kind: 'hash' as const, level: 0, index: 0, width: 256 };
  const body = smallStore.body(tile);
  decoded.forEach((e, i) => {
    t.is(hex(leafHash(e)), hex(hashFromTile(tile, body, { level: 0, index: i })));
  });
});
