import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import { ExternalToolError } from '../node/errors.ts';
import { diffoscopeAvailable, runDiffoscope } from '../node/stats/diffoscope.ts';
import { diffNars, formatNarDiff, type NarDifference } from '../node/stats/nar-diff.ts';
import { decompress, pipeThroughTool } from '../node/upstream/decompress.ts';
import { MalformedError } from '../protocol/errors.ts';
import { narChunks } from '../protocol/nar.ts';
import { compareNarPaths } from '../protocol/nar-reader.ts';
import { memoryDirectory, memoryFile, memorySymlink } from '../protocol/nar-tree.ts';
import { fixture, NIX_FIXTURES, VECTORS } from './helpers/nix-fixtures.ts';

const has = (tool: string) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
const HAS_XZ = has('xz');
const HAS_BZIP2 = spawnSync('bzip2', ['--help'], { stdio: 'ignore' }).status === 0;
const HAS_ZSTD = has('zstd');
const HAS_DIFFOSCOPE = await diffoscopeAvailable();

/** `test`, or a skip whose title says why (the tool is missing here). */
const needs = (ok: boolean, tool: string) => (title: string, fn: (t: ExecutionContext) => Promise<void>) =>
  ok ? test(title, fn) : test.skip(`${title} (skipped: ${tool} is not installed)`, fn);

async function* chunks(bytes: Uint8Array, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

test('the same NAR twice is identical', async (t) => {
  for (const v of VECTORS.vectors) {
    const diff = await diffNars(chunks(fixture(v.narFile)), chunks(fixture(v.narFile), 7));
    t.deepEqual(diff, { identical: true, differences: [], truncated: false }, v.name);
    t.is(formatNarDiff(diff, 'mercury', 'saturn'), 'no differences between mercury and saturn\n');
  }
});

test('different NARs of the same store path compare as different', async (t) => {
  const diff = await diffNars(chunks(fixture('nar/tv-dir.nar')), chunks(fixture('nar/tv-withref.nar')));
  t.false(diff.identical);
  t.true(diff.differences.some((d) => d.path === 'bin' && d.kind === 'only-in-a'));
});

const A = memoryDirectory({
  README: memoryFile('same'),
  bin: memoryDirectory({
    hello: memoryFile('hello v1\n', { executable: true }),
    'old-tool': memoryFile('old'),
    tool: memoryFile('tool'),
  }),
  data: memoryFile('a file'),
  lib: memoryDirectory({ 'libfoo.so': memorySymlink('libfoo.so.1'), 'libfoo.so.1': memoryFile('elf') }),
  old: memoryDirectory({ x: memoryFile('x'), y: memoryDirectory({ z: memoryFile('z') }) }),
});
const B = memoryDirectory({
  README: memoryFile('same'),
  bin: memoryDirectory({
    hello: memoryFile('hello v2\n', { executable: true }),
    tool: memoryFile('tool', { executable: true }),
  }),
  data: memoryDirectory({ inner: memoryFile('now a directory') }),
  lib: memoryDirectory({ 'libfoo.so': memorySymlink('libfoo.so.2'), 'libfoo.so.1': memoryFile('elf') }),
  'new-file': memoryFile('added'),
  share: memoryDirectory({ extra: memoryFile('more') }),
});

const EXPECTED: NarDifference[] = [
  {
    path: 'bin/hello',
    kind: 'content',
    a: { size: 9, sha256: sha('hello v1\n') },
    b: { size: 9, sha256: sha('hello v2\n') },
  },
  {
    path: 'bin/old-tool',
    kind: 'only-in-a',
    a: { type: 'regular', executable: false, size: 3, sha256: sha('old') },
  },
  { path: 'bin/tool', kind: 'executable', a: false, b: true },
  { path: 'data', kind: 'type', a: 'regular', b: 'directory' },
  { path: 'lib/libfoo.so', kind: 'symlink-target', a: 'libfoo.so.1', b: 'libfoo.so.2' },
  {
    path: 'new-file',
    kind: 'only-in-b',
    b: { type: 'regular', executable: false, size: 5, sha256: sha('added') },
  },
  { path: 'old', kind: 'only-in-a', a: { type: 'directory' } },
  { path: 'share', kind: 'only-in-b', b: { type: 'directory' } },
];

test('every kind of difference is found, exactly, sorted by path; contents of one-sided dirs are not listed', async (t) => {
  const diff = await diffNars(narChunks(A), narChunks(B));
  t.deepEqual(diff, { identical: false, differences: EXPECTED, truncated: false });
  const paths = diff.differences.map((d) => d.path);
  t.deepEqual(paths, [...paths].sort(compareNarPaths));
  const reverse = await diffNars(narChunks(B), narChunks(A));
  t.deepEqual(
    reverse.differences.map((d) => `${d.kind} ${d.path}`),
    EXPECTED.map((d) => `${d.kind.replace(/-a$|-b$/, (s) => (s === '-a' ? '-b' : '-a'))} ${d.path}`),
  );
});

test('formatNarDiff writes one line per difference, guix challenge style', async (t) => {
  const text = formatNarDiff(await diffNars(narChunks(A), narChunks(B)), 'mercury', 'saturn');
  t.is(
    text,
    [
      `differing content: bin/hello (mercury 9 bytes sha256:${sha('hello v1\n')}, saturn 9 bytes sha256:${sha('hello v2\n')})`,
      'only in mercury: bin/old-tool (regular file, 3 bytes)',
      'differing executable bit: bin/tool (mercury not executable, saturn executable)',
      'differing type: data (mercury regular file, saturn directory)',
      'differing symlink target: lib/libfoo.so (mercury "libfoo.so.1", saturn "libfoo.so.2")',
      'only in saturn: new-file (regular file, 5 bytes)',
      'only in mercury: old (directory)',
      'only in saturn: share (directory)',
      '',
    ].join('\n'),
  );
});

test('a file whose content and mode both changed gives two differences; a root that changed type, one', async (t) => {
  const both = await diffNars(narChunks(memoryFile('a')), narChunks(memoryFile('b', { executable: true })));
  t.deepEqual(
    both.differences.map((d) => `${d.kind} ${d.path}`),
    ['content ', 'executable '],
  );
  t.true(formatNarDiff(both, 'x', 'y').startsWith('differing content: . (x 1 bytes'));
  const root = await diffNars(narChunks(A), narChunks(memorySymlink('elsewhere')));
  t.deepEqual(root.differences, [{ path: '', kind: 'type', a: 'directory', b: 'symlink' }]);
});

test('the number of differences is capped and the diff says so', async (t) => {
  const many = (v: string) =>
    memoryDirectory(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, memoryFile(v)])));
  const diff = await diffNars(narChunks(many('1')), narChunks(many('2')), { maxDifferences: 3 });
  t.is(diff.differences.length, 3);
  t.true(diff.truncated);
  t.false(diff.identical);
  t.true(formatNarDiff(diff, 'a', 'b').endsWith('... and more differences (stopped after 3)\n'));
  const exact = await diffNars(narChunks(many('1')), narChunks(many('2')), { maxDifferences: 50 });
  t.false(exact.truncated);
});

test('a malformed NAR on either side fails the diff and closes the other input', async (t) => {
  let closed = false;
  const good = (async function* () {
    try {
      yield* narChunks(A);
    } finally {
      closed = true;
    }
  })();
  const bad = chunks(fixture('nar/tv-dir.nar').subarray(0, 500));
  await t.throwsAsync(diffNars(good, bad), { instanceOf: MalformedError, message: /truncated/ });
  t.true(closed);
  await t.throwsAsync(diffNars(chunks(fixture('nar/tv-file.nar')), chunks(new Uint8Array(16))), {
    instanceOf: MalformedError,
  });
});

const xzFile = (v: (typeof VECTORS.vectors)[number]) =>
  createReadStream(join(NIX_FIXTURES, 'binary-cache-xz', v.fileXz.url));

needs(HAS_XZ, 'xz')('xz NARs from the binary cache decompress to the Nix-made NARs', async (t) => {
  for (const v of VECTORS.vectors) {
    t.true((await collect(decompress(xzFile(v), 'xz'))).equals(fixture(v.narFile)), v.name);
    const diff = await diffNars(decompress(xzFile(v), 'xz'), chunks(fixture(v.narFile)));
    t.true(diff.identical, v.name);
  }
});

test("'none' passes the stream through; gzip and brotli go through node:zlib", async (t) => {
  const nar = fixture('nar/tv-dir.nar');
  const none = createReadStream(join(NIX_FIXTURES, 'binary-cache-none', VECTORS.vectors[0]!.fileNone.url));
  t.true((await collect(decompress(none, 'none'))).equals(fixture(VECTORS.vectors[0]!.narFile)));
  t.true((await collect(decompress(chunks(gzipSync(nar), 3), 'gzip'))).equals(nar));
  t.true((await collect(decompress(chunks(brotliCompressSync(nar), 5), 'br'))).equals(nar));
  await t.throwsAsync(collect(decompress(chunks(gzipSync(nar).subarray(0, 40)), 'gzip')), {
    instanceOf: MalformedError,
    message: /gzip stream/,
  });
});

needs(HAS_BZIP2, 'bzip2')('no Compression: means bzip2 (Nix default)', async (t) => {
  const nar = fixture('nar/tv-dir.nar');
  const bz = spawnSync('bzip2', ['-c'], { input: nar }).stdout;
  t.true((await collect(decompress(chunks(bz, 10), undefined))).equals(nar));
});

needs(HAS_ZSTD, 'zstd')('zstd decompresses through the zstd program', async (t) => {
  const nar = fixture('nar/tv-dir.nar');
  const zst = spawnSync('zstd', ['-c', '-q'], { input: nar }).stdout;
  t.true((await collect(decompress(chunks(zst), 'zstd'))).equals(nar));
});

test('an unknown compression is refused at once', (t) => {
  t.throws(() => decompress(chunks(new Uint8Array(0)), 'lz4'), {
    instanceOf: MalformedError,
    message: /lz4/,
  });
});

test('a missing decompressor gives ExternalToolError naming it', async (t) => {
  const err = await t.throwsAsync(
    collect(decompress(chunks(new Uint8Array(10)), 'xz', { env: { PATH: '/nonexistent-trustix' } })),
    { instanceOf: ExternalToolError, message: /^xz: cannot run it \(ENOENT\)/ },
  );
  t.is(err?.tool, 'xz');
  t.is(err?.code, 'ERR_EXTERNAL_TOOL');
});

needs(HAS_XZ, 'xz')(
  'a decompressor failing gives its stderr; an input failing gives the input error',
  async (t) => {
    const err = await t.throwsAsync(collect(decompress(chunks(Buffer.from('not xz at all')), 'xz')), {
      instanceOf: ExternalToolError,
      message: /^xz: exited with 1: /,
    });
    t.not(err?.stderr, '');
    const xz = await collect(xzFile(VECTORS.vectors[2]!));
    const failing = (async function* () {
      yield xz.subarray(0, 30);
      throw new Error('connection reset');
    })();
    await t.throwsAsync(collect(decompress(failing, 'xz')), { message: 'connection reset' });
  },
);

needs(HAS_XZ, 'xz')('stopping early stops the decompressor and closes the input', async (t) => {
  const big = spawnSync('xz', ['-0', '-c'], { input: Buffer.alloc(16 << 20) }).stdout;
  let closed = false;
  const input = (async function* () {
    try {
      yield* chunks(big, 1024);
    } finally {
      closed = true;
    }
  })();
  for await (const chunk of decompress(input, 'xz')) {
    t.true(chunk.length > 0);
    break;
  }
  t.true(closed);
});

test('pipeThroughTool kills the program when the consumer stops early', async (t) => {
  let first = '';
  for await (const chunk of pipeThroughTool(
    'sh',
    ['-c', 'echo $$; exec cat /dev/zero'],
    chunks(new Uint8Array(0)),
  )) {
    first = Buffer.from(chunk).toString('latin1');
    break;
  }
  const pid = Number(/^(\d+)\n/.exec(first)?.[1]);
  t.true(pid > 0);
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
  t.false(alive());
});

test('diffoscopeAvailable answers with a boolean', async (t) => {
  t.is(typeof (await diffoscopeAvailable()), 'boolean');
  t.false(await diffoscopeAvailable('/nonexistent/diffoscope'));
});

needs(HAS_DIFFOSCOPE, 'diffoscope')('runDiffoscope reports on two real differing files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'trustix-diffoscope-'));
  try {
    await writeFile(join(dir, 'a'), 'one\n');
    await writeFile(join(dir, 'b'), 'two\n');
    t.regex(await runDiffoscope(join(dir, 'a'), join(dir, 'b'), { timeoutMs: 120_000 }), /one/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('runDiffoscope: exit 1 is success, other codes fail, output is capped, time is limited', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'trustix-fake-diffoscope-'));
  const fake = async (name: string, body: string) => {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  };
  try {
    const differ = await fake('differ', 'printf "%s|" "$@"; exit 1');
    t.is(await runDiffoscope('/x/a', '-b', { timeoutMs: 10_000, bin: differ }), '--text|-|--|/x/a|-b|');
    const broken = await fake('broken', 'echo "no such file" >&2; exit 2');
    await t.throwsAsync(runDiffoscope('a', 'b', { timeoutMs: 10_000, bin: broken }), {
      instanceOf: ExternalToolError,
      message: 'diffoscope: exited with 2: no such file',
    });
    const chatty = await fake('chatty', 'exec head -c 3000000 /dev/zero');
    const out = await runDiffoscope('a', 'b', { timeoutMs: 10_000, bin: chatty, maxOutputBytes: 1000 });
    t.is(out, `${'\0'.repeat(1000)}\n[diffoscope output cut at 1000 bytes]\n`);
    const slow = await fake('slow', 'exec sleep 30');
    await t.throwsAsync(runDiffoscope('a', 'b', { timeoutMs: 200, bin: slow }), {
      instanceOf: ExternalToolError,
      message: /timed out after 200 ms/,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
