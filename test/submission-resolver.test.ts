import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  NarMismatchError,
  NixUnavailableError,
  NoOutputsError,
  StorePathNotValidError,
} from '../node/errors.ts';
import { type NixQueries, NixStore, type PathInfo } from '../node/own-log/nix-store.ts';
import { SubmissionResolver } from '../node/own-log/submission-resolver.ts';
import { formatEntry } from '../protocol/entry.ts';
import { MalformedError } from '../protocol/errors.ts';
import { narHash } from '../protocol/nar.ts';
import { memoryDirectory, memoryFile } from '../protocol/nar-tree.ts';
import { formatSha256 } from '../protocol/nix-hash.ts';
import { encodeNix32 } from '../protocol/nix32.ts';
import { VECTORS } from './helpers/nix-fixtures.ts';
import {
  HAS_NIX,
  nixFingerprint as nixFingerprintOf,
  nixTest,
  type RealNix,
  realNix,
} from './helpers/real-nix.ts';

// A stand-in store directory on the plain filesystem, and a stand-in for Nix's database, so the
// resolver's own logic is tested everywhere; the real-Nix tests below check it against Nix.
let storeDir: string;
test.before(async () => {
  storeDir = join(await mkdtemp(join(tmpdir(), 'trustix-resolver-')), 'store');
  await mkdir(storeDir);
});
test.after.always(async () => {
  await rm(join(storeDir, '..'), { recursive: true, force: true });
});

function storePath(name: string): string {
  return `${storeDir}/${encodeNix32(new Uint8Array(randomBytes(20)))}-${name}`;
}

/** A store path holding one file, and what an honest Nix would have registered for it. */
async function fileInStore(contents: string, references: string[] = []): Promise<PathInfo> {
  const path = storePath('f');
  await writeFile(path, contents);
  const nar = await narHash(memoryFile(contents));
  return { path, narHash: nar.hash, narSize: nar.size, references, deriver: undefined };
}

/** NixQueries answering from a table; counts calls in flight. */
class FakeNix implements NixQueries {
  readonly infos = new Map<string, PathInfo>();
  readonly outputs = new Map<string, string[]>();
  inFlight = 0;
  maxInFlight = 0;
  pathInfoCalls: string[][] = [];

  async outputsOf(drvPath: string): Promise<string[]> {
    return this.outputs.get(drvPath) ?? [];
  }

  async pathInfo(paths: readonly string[]): Promise<PathInfo[]> {
    this.pathInfoCalls.push([...paths]);
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    await new Promise((r) => setTimeout(r, 20));
    this.inFlight--;
    return paths.map((p) => {
      const info = this.infos.get(p);
      if (info === undefined) throw new StorePathNotValidError(p, 'Nix says: is not valid');
      return info;
    });
  }
}

function resolverOver(nix: NixQueries, concurrency?: number): SubmissionResolver {
  return new SubmissionResolver({ nix }, { storeDir, ...(concurrency === undefined ? {} : { concurrency }) });
}

test("a path resolves to our NAR hash and size with Nix's references", async (t) => {
  const nix = new FakeNix();
  const dep = storePath('dep');
  const info = await fileInStore('hello\n', [dep]);
  nix.infos.set(info.path, info);
  const [resolved, ...rest] = await resolverOver(nix).resolve({ kind: 'path', path: info.path });
  t.deepEqual(rest, []);
  t.is(resolved!.entry.storePath, info.path);
  t.deepEqual(resolved!.entry.narHash, info.narHash);
  t.is(resolved!.entry.narSize, info.narSize);
  t.deepEqual(resolved!.entry.references, [dep]);
  t.is(resolved!.fingerprint, `1;${info.path};${formatSha256(info.narHash)};${info.narSize};${dep}`);
});

test('a directory path hashes as its NAR (independent in-memory NAR as the reference)', async (t) => {
  const nix = new FakeNix();
  const path = storePath('dir');
  await mkdir(join(path, 'sub'), { recursive: true });
  await writeFile(join(path, 'sub', 'b'), 'bee');
  await writeFile(join(path, 'a'), 'ay');
  const nar = await narHash(
    memoryDirectory({ a: memoryFile('ay'), sub: memoryDirectory({ b: memoryFile('bee') }) }),
  );
  nix.infos.set(path, { path, narHash: nar.hash, narSize: nar.size, references: [], deriver: undefined });
  const [resolved] = await resolverOver(nix).resolve({ kind: 'path', path });
  t.deepEqual(resolved!.entry.narHash, nar.hash);
});

test('a NAR hash that differs from what Nix registered is refused with NarMismatchError', async (t) => {
  const nix = new FakeNix();
  const info = await fileInStore('contents on disk\n');
  const other = await narHash(memoryFile('contents Nix hashed\n'));
  nix.infos.set(info.path, { ...info, narHash: other.hash });
  const err = await t.throwsAsync(resolverOver(nix).resolve({ kind: 'path', path: info.path }), {
    instanceOf: NarMismatchError,
  });
  t.is(err!.path, info.path);
  t.true(err!.message.includes(formatSha256(other.hash)));
});

test('a NAR size that differs from what Nix registered is refused, early when ours is larger', async (t) => {
  const nix = new FakeNix();
  const info = await fileInStore('x'.repeat(5000));
  nix.infos.set(info.path, { ...info, narSize: info.narSize - 8 });
  const smaller = await t.throwsAsync(resolverOver(nix).resolve({ kind: 'path', path: info.path }), {
    instanceOf: NarMismatchError,
  });
  t.regex(smaller!.message, /larger than Nix's/);
  nix.infos.set(info.path, { ...info, narSize: info.narSize + 8 });
  const larger = await t.throwsAsync(resolverOver(nix).resolve({ kind: 'path', path: info.path }), {
    instanceOf: NarMismatchError,
  });
  t.regex(larger!.message, /our NAR size \d+, Nix's \d+/);
});

test('a NAR size Nix does not know (0) is not compared; the hash still is', async (t) => {
  const nix = new FakeNix();
  const info = await fileInStore('old registration\n');
  nix.infos.set(info.path, { ...info, narSize: 0 });
  const [resolved] = await resolverOver(nix).resolve({ kind: 'path', path: info.path });
  t.is(resolved!.entry.narSize, info.narSize);
});

test('paths that Nix does not know, or that are gone from disk, are StorePathNotValidError', async (t) => {
  const nix = new FakeNix();
  const unknown = storePath('unknown');
  await t.throwsAsync(resolverOver(nix).resolve({ kind: 'path', path: unknown }), {
    instanceOf: StorePathNotValidError,
  });
  const gone = await fileInStore('soon gone');
  nix.infos.set(gone.path, gone);
  await rm(gone.path);
  const err = await t.throwsAsync(resolverOver(nix).resolve({ kind: 'path', path: gone.path }), {
    instanceOf: StorePathNotValidError,
  });
  t.regex(err!.message, /missing on disk/);
});

test('a derivation resolves to all its outputs, in order; one with none is NoOutputsError', async (t) => {
  const nix = new FakeNix();
  const out = await fileInStore('out');
  const dev = await fileInStore('dev', [out.path]);
  const drv = storePath('x.drv');
  nix.outputs.set(drv, [out.path, dev.path]);
  nix.infos.set(out.path, out).set(dev.path, dev);
  const resolved = await resolverOver(nix).resolve({ kind: 'drv', drvPath: drv });
  t.deepEqual(
    resolved.map((r) => r.entry.storePath),
    [out.path, dev.path],
  );
  t.deepEqual(resolved[1]!.entry.references, [out.path]);
  const empty = storePath('empty.drv');
  await t.throwsAsync(resolverOver(nix).resolve({ kind: 'drv', drvPath: empty }), {
    instanceOf: NoOutputsError,
  });
});

test('submissions outside the store, or a drv that is not a .drv, are MalformedError', async (t) => {
  const r = resolverOver(new FakeNix());
  await t.throwsAsync(r.resolve({ kind: 'path', path: '/tmp/x' }), { instanceOf: MalformedError });
  await t.throwsAsync(r.resolve({ kind: 'path', path: `${storePath('a')}/sub` }), {
    instanceOf: MalformedError,
  });
  await t.throwsAsync(r.resolve({ kind: 'drv', drvPath: storePath('not-a-drv') }), {
    instanceOf: MalformedError,
  });
});

test('an entry submission is parsed strictly and kept byte for byte', async (t) => {
  const r = new SubmissionResolver({ nix: new FakeNix() });
  for (const v of VECTORS.vectors) {
    const [resolved] = await r.resolve({ kind: 'entry', entry: v.fingerprint });
    t.is(resolved!.fingerprint, v.fingerprint);
    t.is(resolved!.entry.storePath, v.storePath);
  }
  const withref = VECTORS.vectors.find((v) => v.references.length > 1)!;
  const unsorted = withref.fingerprint.replace(/;([^;]*),([^;]*)$/, ';$2,$1');
  await t.throwsAsync(r.resolve({ kind: 'entry', entry: unsorted }), { instanceOf: MalformedError });
});

test('without Nix, path and drv submissions are NixUnavailableError; entries still resolve', async (t) => {
  const r = new SubmissionResolver({ nix: new NixStore({ bin: '/nonexistent/trustix-test/nix-store' }) });
  const path = `/nix/store/${'1'.repeat(32)}-x`;
  await t.throwsAsync(r.resolve({ kind: 'path', path }), { instanceOf: NixUnavailableError });
  await t.throwsAsync(r.resolve({ kind: 'drv', drvPath: `${path}.drv` }), {
    instanceOf: NixUnavailableError,
  });
  const v = VECTORS.vectors[0]!;
  t.is((await r.resolve({ kind: 'entry', entry: v.fingerprint }))[0]!.fingerprint, v.fingerprint);
});

test('resolveAll asks Nix once for every path of a batch and hashes a shared path once', async (t) => {
  const nix = new FakeNix();
  const a = await fileInStore('a');
  const b = await fileInStore('b');
  const drv = storePath('ab.drv');
  nix.outputs.set(drv, [a.path, b.path]);
  nix.infos.set(a.path, a).set(b.path, b);
  const fingerprint = formatEntry({
    storePath: storePath('e'),
    narHash: new Uint8Array(32),
    narSize: 8,
    references: [],
  });
  const results = await resolverOver(nix).resolveAll([
    { kind: 'path', path: a.path },
    { kind: 'drv', drvPath: drv },
    { kind: 'entry', entry: fingerprint },
    { kind: 'path', path: b.path },
  ]);
  t.deepEqual(nix.pathInfoCalls, [[a.path, b.path]]);
  t.deepEqual(
    results.map((r) => (r.ok ? r.entries.map((e) => e.entry.storePath) : r.error)),
    [[a.path], [a.path, b.path], [fingerprint.split(';')[1]], [b.path]],
  );
  // The same entry object: one hashing per path.
  t.is(results[0]!.ok && results[0]!.entries[0], results[1]!.ok && results[1]!.entries[0]);
});

test('resolveAll refuses only the bad submissions of a batch, each with its own error', async (t) => {
  const nix = new FakeNix();
  const good = await fileInStore('good');
  const tampered = await fileInStore('tampered');
  const unknown = storePath('unknown');
  const other = storePath('other-unknown');
  nix.infos.set(good.path, good).set(tampered.path, { ...tampered, narHash: new Uint8Array(32) });
  const results = await resolverOver(nix).resolveAll([
    { kind: 'path', path: unknown },
    { kind: 'path', path: good.path },
    { kind: 'entry', entry: 'not an entry' },
    { kind: 'path', path: tampered.path },
    { kind: 'drv', drvPath: storePath('none.drv') },
    { kind: 'path', path: other },
  ]);
  const errorOf = (i: number) => {
    const r = results[i]!;
    return r.ok ? undefined : r.error;
  };
  t.true(errorOf(0) instanceof StorePathNotValidError);
  t.is((errorOf(0) as StorePathNotValidError).path, unknown);
  t.true(results[1]!.ok);
  t.true(errorOf(2) instanceof MalformedError);
  t.true(errorOf(3) instanceof NarMismatchError);
  t.true(errorOf(4) instanceof NoOutputsError);
  t.is((errorOf(5) as StorePathNotValidError).path, other);
  // One call, then one more per path Nix did not know.
  t.is(nix.pathInfoCalls.length, 3);
});

test('store-path work is bounded by the concurrency across concurrent resolve() calls', async (t) => {
  for (const concurrency of [1, 2, 3]) {
    const nix = new FakeNix();
    const infos = await Promise.all(Array.from({ length: 8 }, (_, i) => fileInStore(`file ${i}`)));
    for (const info of infos) nix.infos.set(info.path, info);
    const r = resolverOver(nix, concurrency);
    const results = await Promise.all(infos.map((info) => r.resolve({ kind: 'path', path: info.path })));
    t.is(results.length, 8);
    t.is(nix.maxInFlight, concurrency, `concurrency ${concurrency}`);
  }
  t.throws(() => resolverOver(new FakeNix(), 0), { instanceOf: RangeError });
});

// Against real Nix: every entry must be exactly the fingerprint Nix itself would sign.
let nix: RealNix;
const built = new Map<string, string>();
let multiDrv: string;
let unbuiltDrv: string;
if (HAS_NIX) {
  test.before(async () => {
    nix = await realNix();
    const s = nix.salt;
    const expr = await nix.writeNix(
      'resolver',
      `let mk = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" script]; }; in rec {
        file = mk "rs-file" "echo ${s} > $out";
        exe = mk "rs-exe" "echo '#!/bin/sh' > $out; echo ${s} >> $out; /bin/chmod +x $out";
        dir = mk "rs-dir" "/bin/mkdir -p $out/sub/empty; echo ${s} > $out/sub/f; echo B > $out/B; echo a > $out/a; /bin/ln -s sub/f $out/link; /bin/ln -s /nonexistent $out/dangling; echo '#!/bin/sh' > $out/sub/run; /bin/chmod +x $out/sub/run";
        withRef = mk "rs-ref" "/bin/mkdir $out; echo \${file} > $out/dep; echo $out > $out/self";
        big = mk "rs-big" "echo ${s} > $out; /usr/bin/head -c 3000000 /dev/urandom >> $out";
        multi = derivation { name = "rs-multi"; system = builtins.currentSystem; builder = "/bin/sh";
          outputs = ["out" "dev"]; args = ["-c" "echo ${s} > $out; echo $out > $dev"]; };
        unbuilt = mk "rs-unbuilt" "echo ${s} > $out";
      }`,
    );
    for (const attr of ['file', 'exe', 'dir', 'withRef', 'big', 'multi.out', 'multi.dev'])
      built.set(attr, (await nix.build(expr, attr))[0]!);
    multiDrv = await nix.instantiate(expr, 'multi');
    unbuiltDrv = await nix.instantiate(expr, 'unbuilt');
  });
  test.after.always(async () => {
    await nix?.cleanup();
  });
}

const nixFingerprint = (path: string) => nixFingerprintOf(nix, path);

function realResolver(): SubmissionResolver {
  return new SubmissionResolver({ nix: new NixStore({ env: nix.env }) });
}

for (const attr of ['file', 'exe', 'dir', 'withRef', 'big', 'multi.out', 'multi.dev']) {
  nixTest(
    `real Nix: path ${attr} resolves to exactly the fingerprint Nix signs and Nix's --hash`,
    async (t) => {
      const path = built.get(attr)!;
      const [resolved, ...rest] = await realResolver().resolve({ kind: 'path', path });
      t.deepEqual(rest, []);
      t.is(resolved!.fingerprint, await nixFingerprint(path));
      t.is(
        formatSha256(resolved!.entry.narHash),
        (await nix.nix('nix-store', ['--query', '--hash', path])).trim(),
      );
      if (attr === 'withRef') t.deepEqual(resolved!.entry.references, [built.get('file')!, path].sort());
      if (attr === 'multi.dev') t.deepEqual(resolved!.entry.references, [built.get('multi.out')!]);
    },
  );
}

nixTest('real Nix: a multi-output derivation resolves to the entries of all its outputs', async (t) => {
  const resolved = await realResolver().resolve({ kind: 'drv', drvPath: multiDrv });
  const outputs = [built.get('multi.out')!, built.get('multi.dev')!].sort();
  t.deepEqual(
    resolved.map((r) => r.entry.storePath),
    outputs,
  );
  for (const r of resolved) t.is(r.fingerprint, await nixFingerprint(r.entry.storePath));
});

nixTest('real Nix: a path not in the store, or an unbuilt output, is StorePathNotValidError', async (t) => {
  const r = realResolver();
  const missing = `/nix/store/${encodeNix32(new Uint8Array(randomBytes(20)))}-trustix-missing`;
  const err = await t.throwsAsync(r.resolve({ kind: 'path', path: missing }), {
    instanceOf: StorePathNotValidError,
  });
  t.is(err!.path, missing);
  await t.throwsAsync(r.resolve({ kind: 'drv', drvPath: unbuiltDrv }), {
    instanceOf: StorePathNotValidError,
  });
});

nixTest('real Nix: a batch with an unknown path refuses only that one', async (t) => {
  const missing = `/nix/store/${encodeNix32(new Uint8Array(randomBytes(20)))}-trustix-missing`;
  const results = await realResolver().resolveAll([
    { kind: 'path', path: built.get('file')! },
    { kind: 'path', path: missing },
    { kind: 'drv', drvPath: multiDrv },
    { kind: 'path', path: built.get('big')! },
  ]);
  t.deepEqual(
    results.map((r) => r.ok),
    [true, false, true, true],
  );
  const failed = results[1]!;
  t.true(!failed.ok && failed.error instanceof StorePathNotValidError);
  for (const r of results)
    if (r.ok) for (const e of r.entries) t.is(e.fingerprint, await nixFingerprint(e.entry.storePath));
});

nixTest('real Nix: a Nix that reports another hash or size for a real path is refused', async (t) => {
  const store = new NixStore({ env: nix.env });
  const tamper = (change: (info: PathInfo) => PathInfo): NixQueries => ({
    outputsOf: (drv) => store.outputsOf(drv),
    pathInfo: async (paths) => (await store.pathInfo(paths)).map(change),
  });
  const path = built.get('dir')!;
  const flipped = (info: PathInfo) => {
    const narHash = Uint8Array.from(info.narHash);
    narHash[0] = narHash[0]! ^ 1;
    return { ...info, narHash };
  };
  for (const change of [flipped, (i: PathInfo) => ({ ...i, narSize: i.narSize + 8 })]) {
    const r = new SubmissionResolver({ nix: tamper(change) });
    await t.throwsAsync(r.resolve({ kind: 'path', path }), { instanceOf: NarMismatchError });
    await t.throwsAsync(r.resolve({ kind: 'drv', drvPath: multiDrv }), { instanceOf: NarMismatchError });
  }
});

nixTest('real Nix: wall time to resolve one small path (measured, not asserted)', async (t) => {
  const r = realResolver();
  const path = built.get('file')!;
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const started = performance.now();
    await r.resolve({ kind: 'path', path });
    times.push(performance.now() - started);
  }
  const drvTimes: number[] = [];
  for (let i = 0; i < 15; i++) {
    const started = performance.now();
    await r.resolve({ kind: 'drv', drvPath: multiDrv });
    drvTimes.push(performance.now() - started);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);
  t.log(`resolve one small path: median ${median(times)} ms; a 2-output drv: median ${median(drvTimes)} ms`);
  t.pass();
});
