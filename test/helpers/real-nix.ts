/**
 * A private real-Nix environment for tests: config only through its own
 * NIX_CONF_DIR (no sandbox, no build users, no substituters), its own XDG_CACHE_HOME, and
 * derivations salted per run so every run builds fresh paths. Builders are /bin/sh with tools by
 * full path (a builder has no PATH). Never touches /etc/nix; paths stay in /nix/store (unique names).
 */
import { type ExecFileException, execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { formatEntry } from '../../protocol/entry.ts';
import { parseSha256 } from '../../protocol/nix-hash.ts';

const run = promisify(execFile);

/** Whether `nix-store` runs here; tests that need real Nix skip when it does not. */
export const HAS_NIX: boolean = (() => {
  try {
    execFileSync('nix-store', ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
})();

export const NO_NIX_MESSAGE = 'skipped: nix-store is not on PATH (install nix-bin to run the real-Nix tests)';

/** A test that needs real Nix: runs when `nix-store` is on PATH, else is skipped saying why. */
export function nixTest(title: string, fn: (t: ExecutionContext) => Promise<void>): void {
  if (HAS_NIX) test(title, fn);
  else test.skip(`${title} (${NO_NIX_MESSAGE})`, fn);
}

/** As `nixTest`, one at a time in its file: concurrent Nix commands wait on each other's SQLite locks. */
export function nixSerialTest(title: string, fn: (t: ExecutionContext) => Promise<void>): void {
  if (HAS_NIX) test.serial(title, fn);
  else test.skip(`${title} (${NO_NIX_MESSAGE})`, fn);
}

export interface RealNix {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** A unique string for this environment; put it in every derivation. */
  readonly salt: string;
  /** Writes `expr` (a Nix expression of an attribute set) to a file and returns its path. */
  writeNix(name: string, expr: string): Promise<string>;
  /** `nix-build FILE -A ATTR --no-out-link`: the output paths, one per output. */
  build(file: string, attr: string): Promise<string[]>;
  /** `nix-instantiate FILE -A ATTR`: the .drv path. */
  instantiate(file: string, attr: string): Promise<string>;
  /** Any Nix program with this environment; its stdout. */
  nix(program: string, args: readonly string[]): Promise<string>;
  cleanup(): Promise<void>;
}

export async function realNix(): Promise<RealNix> {
  const dir = await mkdtemp(join(tmpdir(), 'trustix-real-nix-'));
  await mkdir(join(dir, 'conf'));
  await writeFile(
    join(dir, 'conf', 'nix.conf'),
    'sandbox = false\nbuild-users-group =\nsubstituters =\nexperimental-features = nix-command\n',
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NIX_CONF_DIR: join(dir, 'conf'),
    XDG_CACHE_HOME: join(dir, 'xdg'),
  };
  delete env['NIX_REMOTE'];
  const salt = `${process.pid}-${process.hrtime.bigint()}`;
  const nix = async (program: string, args: readonly string[]) =>
    (await run(program, args, { env, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 })).stdout;
  return {
    dir,
    env,
    salt,
    async writeNix(name, expr) {
      const file = join(dir, `${name}.nix`);
      await writeFile(file, expr);
      return file;
    },
    async build(file, attr) {
      return lines(await nix('nix-build', [file, '-A', attr, '--no-out-link']));
    },
    async instantiate(file, attr) {
      const [drv] = lines(await nix('nix-instantiate', [file, '-A', attr]));
      return drv!;
    },
    nix,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** The fingerprint Nix would sign for `path`, from `nix path-info --json` (SRI hash normalized). */
export async function nixFingerprint(nix: RealNix, path: string): Promise<string> {
  const [info] = JSON.parse(await nix.nix('nix', ['path-info', '--json', path])) as {
    path: string;
    narHash: string;
    narSize: number;
    references: string[];
  }[];
  return formatEntry({
    storePath: info!.path,
    narHash: parseSha256(info!.narHash, 'nix path-info narHash'),
    narSize: info!.narSize,
    references: info!.references,
  });
}

export interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion with `env`; a non-zero exit is an outcome, not a throw. */
export async function outcome(
  program: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(program, args, { env, timeout: 60_000, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as ExecFileException & { stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `nix path-info --json` of `path` in `store` (the machine's store when undefined). */
export async function pathInfo(nix: RealNix, path: string, store?: string) {
  const args = ['path-info', '--json', ...(store ? ['--store', store] : []), path];
  const [info] = JSON.parse(await nix.nix('nix', args)) as {
    path: string;
    narHash: string;
    narSize: number;
  }[];
  return info!;
}

/** Whether `path` is valid in the Nix store `store`. */
export async function isValidIn(nix: RealNix, store: string, path: string): Promise<boolean> {
  return (await outcome('nix-store', ['--store', store, '--check-validity', path], nix.env)).code === 0;
}
