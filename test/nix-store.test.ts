import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { NixCommandError, NixUnavailableError, StorePathNotValidError } from '../node/errors.ts';
import { NixStore, type NixStoreRunner } from '../node/own-log/nix-store.ts';
import { MalformedError } from '../protocol/errors.ts';
import { parseSha256 } from '../protocol/nix-hash.ts';
import { HAS_NIX, nixTest, type RealNix, realNix } from './helpers/real-nix.ts';

// A real `nix-store --dump-db` record (Nix 2.8.0) of a path with one reference and a deriver,
// followed by one with no references.
const REF = '/nix/store/bfjiphlahx1nbrzdijfmj34k6927ra26-exp-ref';
const FILE = '/nix/store/9lnf4vs3iry1xqawnyir3mayj16c1848-exp-file';
const REF_HEX = '06803e799905164cff62840ddeb6592a06a5214763ebaa0ed8e05a13fc9c93f9';
const DUMP =
  `${REF}\n${REF_HEX}\n336\n/nix/store/6q5zbz430szv5y9v47l1dbpnyslidzy3-exp-ref.drv\n1\n${FILE}\n` +
  `${FILE}\n23a8a737e9baf42441dffc16b92d978b1ed3fd8574b907895e03f7e4b1b01fb9\n136\n\n0\n`;

/** A NixStore whose nix-store prints `stdout`; records the argv it was given. */
function canned(stdout: string): { store: NixStore; calls: (readonly string[])[] } {
  const calls: (readonly string[])[] = [];
  const runner: NixStoreRunner = async (args) => {
    calls.push(args);
    return stdout;
  };
  return { store: new NixStore({ runner }), calls };
}

test('pathInfo parses --dump-db records: hash, size, deriver, sorted references, in the order asked', async (t) => {
  const { store, calls } = canned(DUMP);
  const [ref, file] = await store.pathInfo([REF, FILE]);
  t.deepEqual(calls, [['--dump-db', REF, FILE]]);
  t.is(Buffer.from(ref!.narHash).toString('hex'), REF_HEX);
  t.is(ref!.narSize, 336);
  t.is(ref!.deriver, '/nix/store/6q5zbz430szv5y9v47l1dbpnyslidzy3-exp-ref.drv');
  t.deepEqual(ref!.references, [FILE]);
  t.is(file!.narSize, 136);
  t.is(file!.deriver, undefined);
  t.deepEqual(file!.references, []);
});

test('pathInfo refuses output that is not exactly the records asked for', async (t) => {
  const bad: [string, string][] = [
    ['records for other paths', DUMP.replace(`${REF}\n`, `${FILE}\n`)],
    ['a missing record', DUMP.slice(0, DUMP.indexOf(`${FILE}\n23a8`))],
    ['trailing lines', `${DUMP}extra\n`],
    ['an unterminated last line', DUMP.slice(0, -1)],
    ['uppercase hex', DUMP.replace(REF_HEX, REF_HEX.toUpperCase())],
    ['a short hash', DUMP.replace(REF_HEX, REF_HEX.slice(2))],
    ['a size with a leading zero', DUMP.replace('\n336\n', '\n0336\n')],
    ['a reference outside the store', DUMP.replace(`1\n${FILE}\n${FILE}`, `1\n/tmp/x\n${FILE}`)],
    ['more references than lines', DUMP.replace('\n0\n', '\n3\n')],
    [
      'a deriver that is not a store path',
      DUMP.replace('/nix/store/6q5zbz430szv5y9v47l1dbpnyslidzy3-exp-ref.drv', 'unknown'),
    ],
  ];
  for (const [why, out] of bad) {
    await t.throwsAsync(canned(out).store.pathInfo([REF, FILE]), { instanceOf: NixCommandError }, why);
  }
});

test('pathInfo also accepts a prefixed hash spelling (sha256:nix32), should a later Nix print one', async (t) => {
  const nix32 = 'sha256:1yckkky16np0v07amsv38whsa1iab6vdw3c4cbzlq5h5k5wkx006';
  const [ref] = await canned(DUMP.replace(REF_HEX, nix32)).store.pathInfo([REF, FILE]);
  t.deepEqual(ref!.narHash, parseSha256(nix32, 'x'));
  t.is(Buffer.from(ref!.narHash).toString('hex'), REF_HEX);
});

test('queries refuse arguments that are not canonical store paths before running anything', async (t) => {
  const { store, calls } = canned('');
  await t.throwsAsync(store.pathInfo(['/tmp/x']), { instanceOf: MalformedError });
  await t.throwsAsync(store.pathInfo([`${REF}/sub`]), { instanceOf: MalformedError });
  await t.throwsAsync(store.requisites(['relative']), { instanceOf: MalformedError });
  // nix-store --query --outputs of a non-derivation prints the path itself: never ask it that.
  await t.throwsAsync(store.outputsOf(REF), { instanceOf: MalformedError });
  t.deepEqual(calls, []);
});

test('outputsOf and requisites parse one store path per line, strictly', async (t) => {
  const drv = '/nix/store/f160j1fd4yr66ywggx5rpa3g5pirbafn-exp-multi.drv';
  t.deepEqual(await canned(`${FILE}\n${REF}\n`).store.outputsOf(drv), [FILE, REF]);
  t.deepEqual(await canned('').store.outputsOf(drv), []);
  t.deepEqual(await canned(`${FILE}\n${REF}\n`).store.requisites([REF]), [FILE, REF]);
  await t.throwsAsync(canned(`${FILE}\nwarning: x\n`).store.outputsOf(drv), { instanceOf: NixCommandError });
  await t.throwsAsync(canned(`${FILE}\n\n`).store.outputsOf(drv), { instanceOf: NixCommandError });
  await t.throwsAsync(canned(FILE).store.requisites([REF]), { instanceOf: NixCommandError });
});

test('version parses the version line, including forks that name themselves', async (t) => {
  t.is(await canned('nix-store (Nix) 2.8.0\n').store.version(), '2.8.0');
  t.is(await canned('nix-store (Lix, like Nix) 2.90.0\n').store.version(), '2.90.0');
  await t.throwsAsync(canned('something else\n').store.version(), { instanceOf: NixCommandError });
});

// The real child-process runner, against stand-in programs (no Nix needed).
let bin: string;
test.before(async () => {
  bin = await mkdtemp(join(tmpdir(), 'trustix-fake-nix-'));
});
test.after.always(async () => {
  await rm(bin, { recursive: true, force: true });
});

async function fakeNixStore(name: string, script: string): Promise<string> {
  const path = join(bin, name);
  await writeFile(path, `#!/bin/sh\n${script}\n`);
  await chmod(path, 0o755);
  return path;
}

test('a missing nix-store is NixUnavailableError, and version() is undefined', async (t) => {
  const store = new NixStore({ bin: '/nonexistent/trustix-test/nix-store' });
  t.is(await store.version(), undefined);
  const err = await t.throwsAsync(store.pathInfo([REF]), { instanceOf: NixUnavailableError });
  t.regex(err!.message, /not installed or not on PATH/);
});

test('a nix-store that hangs is killed at the timeout: NixCommandError', async (t) => {
  const store = new NixStore({ bin: await fakeNixStore('hang', 'exec /bin/sleep 30'), timeoutMs: 300 });
  const started = Date.now();
  const err = await t.throwsAsync(store.pathInfo([REF]), { instanceOf: NixCommandError });
  t.regex(err!.message, /timed out after 300 ms/);
  t.true(Date.now() - started < 10_000);
});

test('a nix-store that prints more than the cap is stopped: NixCommandError', async (t) => {
  const store = new NixStore({
    bin: await fakeNixStore('chatty', 'exec /usr/bin/head -c 1000000 /dev/zero'),
    maxOutputBytes: 4096,
  });
  const err = await t.throwsAsync(store.requisites([REF]), { instanceOf: NixCommandError });
  t.regex(err!.message, /more than 4096 bytes/);
});

test("Nix's 'is not valid' and 'not in the Nix store' errors become StorePathNotValidError", async (t) => {
  const invalid = new NixStore({
    bin: await fakeNixStore('invalid', `echo "error: path '${REF}' is not valid" >&2; exit 1`),
  });
  const err = await t.throwsAsync(invalid.pathInfo([REF]), { instanceOf: StorePathNotValidError });
  t.is(err!.path, REF);
  const coloured = new NixStore({
    bin: await fakeNixStore(
      'coloured',
      `printf "\\033[31;1merror:\\033[0m path '${REF}' is not valid\\n" >&2; exit 1`,
    ),
  });
  await t.throwsAsync(coloured.pathInfo([REF]), { instanceOf: StorePathNotValidError });
});

test('any other failure is NixCommandError carrying the exit code and the end of stderr', async (t) => {
  const store = new NixStore({
    bin: await fakeNixStore('fails', 'echo "error: database is locked" >&2; exit 1'),
  });
  const err = await t.throwsAsync(store.pathInfo([REF]), { instanceOf: NixCommandError });
  t.regex(err!.message, /exit code 1: error: database is locked/);
});

test('an aborted call kills nix-store and rejects with the abort', async (t) => {
  const store = new NixStore({ bin: await fakeNixStore('slow', 'exec /bin/sleep 30') });
  const controller = new AbortController();
  const call = store.pathInfo([REF], controller.signal);
  setTimeout(() => controller.abort(), 100);
  await t.throwsAsync(call, { name: 'AbortError' });
});

// Against real Nix.
let nix: RealNix;
let file: string;
let file2: string;
let withRef: string;
let multiDrv: string;
let multiOutputs: string[];
if (HAS_NIX) {
  test.before(async () => {
    nix = await realNix();
    const expr = await nix.writeNix(
      'store',
      `let mk = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" script]; }; in rec {
        file = mk "ns-file" "echo ${nix.salt} > $out";
        file2 = mk "ns-file2" "echo 2 ${nix.salt} > $out";
        withRef = mk "ns-ref" "/bin/mkdir $out; echo \${file} \${file2} > $out/r";
        multi = derivation { name = "ns-multi"; system = builtins.currentSystem; builder = "/bin/sh";
          outputs = ["out" "dev"]; args = ["-c" "echo ${nix.salt} > $out; echo dev ${nix.salt} > $dev"]; };
      }`,
    );
    [file] = (await nix.build(expr, 'file')) as [string];
    [file2] = (await nix.build(expr, 'file2')) as [string];
    [withRef] = (await nix.build(expr, 'withRef')) as [string];
    // nix-build prints only the default output: ask for both by name.
    multiOutputs = [...(await nix.build(expr, 'multi.out')), ...(await nix.build(expr, 'multi.dev'))];
    multiDrv = await nix.instantiate(expr, 'multi');
  });
  test.after.always(async () => {
    await nix?.cleanup();
  });
}

const q = async (flag: string, path: string) => (await nix.nix('nix-store', ['--query', flag, path])).trim();

nixTest("real Nix: pathInfo equals nix-store's own --hash, --size, --references and --deriver", async (t) => {
  const store = new NixStore({ env: nix.env });
  const infos = await store.pathInfo([withRef, file]);
  for (const [i, path] of [withRef, file].entries()) {
    const info = infos[i]!;
    t.is(info.path, path);
    t.deepEqual(info.narHash, parseSha256(await q('--hash', path), 'nix-store --hash'));
    t.is(info.narSize, Number(await q('--size', path)));
    t.deepEqual(info.references, (await q('--references', path)).split('\n').filter(Boolean).sort());
    t.is(info.deriver, await q('--deriver', path));
  }
  t.deepEqual(infos[0]!.references, [file, file2].sort());
});

nixTest('real Nix: outputsOf a multi-output derivation gives every output nix-build made', async (t) => {
  const store = new NixStore({ env: nix.env });
  const outputs = await store.outputsOf(multiDrv);
  t.is(outputs.length, 2);
  t.deepEqual(outputs, [...multiOutputs].sort());
  t.truthy(outputs.find((p) => p.endsWith('-ns-multi-dev')));
});

nixTest('real Nix: requisites is the closure, the path itself included', async (t) => {
  const store = new NixStore({ env: nix.env });
  t.deepEqual((await store.requisites([withRef])).sort(), [file, file2, withRef].sort());
  t.deepEqual(await store.requisites([file]), [file]);
});

nixTest(
  'real Nix: unknown paths and derivations are StorePathNotValidError; version is reported',
  async (t) => {
    const store = new NixStore({ env: nix.env });
    const missing = `/nix/store/${'0'.repeat(32)}-trustix-never-built`;
    const err = await t.throwsAsync(store.pathInfo([file, missing]), { instanceOf: StorePathNotValidError });
    t.is(err!.path, missing);
    await t.throwsAsync(store.outputsOf(`${missing}.drv`), { instanceOf: StorePathNotValidError });
    t.regex((await store.version())!, /^2\.\d+/);
  },
);
