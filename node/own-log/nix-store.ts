/**
 * The few Nix store queries the node needs, through the `nix-store` program (so the same code works
 * as root on a single-user store and through the daemon on a multi-user one):
 *
 *   nix-store --version                     version(): is Nix here at all
 *   nix-store --query --outputs DRV         outputsOf(): the output paths of a derivation
 *   nix-store --dump-db PATH...             pathInfo(): NAR hash, NAR size, deriver, references
 *   nix-store --query --requisites PATH...  requisites(): the closure (for `submit --closure`)
 *
 * `--dump-db PATH` prints Nix's registration of each path (the same database row that `--query
 * --hash`, `--size`, `--references` and `--deriver` read), one path per record:
 *
 *   /nix/store/bfji…-exp-ref              path
 *   06803e79…c9c93f9                       NAR SHA-256, 64 lowercase hex
 *   336                                    NAR size
 *   /nix/store/6q5z…-exp-ref.drv          deriver, or an empty line
 *   1                                      number of references
 *   /nix/store/9lnf…-exp-file             each reference
 *
 * One process for all four facts of many paths instead of three or four per path: a `nix-store`
 * start costs tens of milliseconds, most of the time a small path takes to resolve.
 *
 * Every call has a timeout and an output cap, and everything it prints is parsed strictly:
 * anything unexpected is a NixCommandError, never a guess. Paths are validated store paths before
 * they reach argv (nix-store would otherwise follow symlinks or strip sub-paths on its own).
 */
import { type ExecFileException, execFile } from 'node:child_process';
import { logger } from '@libp2p/logger';
import { parseDecimal } from '../../protocol/decimal.ts';
import { MalformedError } from '../../protocol/errors.ts';
import { parseSha256 } from '../../protocol/nix-hash.ts';
import { DEFAULT_STORE_DIR, parseStorePath } from '../../protocol/store-path.ts';
import { NixCommandError, NixUnavailableError, StorePathNotValidError } from '../errors.ts';

const log = logger('trustix:nix-store');

/** What Nix's database records for a valid store path. */
export interface PathInfo {
  readonly path: string;
  /** The 32 bytes of the NAR's SHA-256. */
  readonly narHash: Uint8Array;
  /** NAR size in bytes; 0 when Nix does not know it (paths registered by very old Nix). */
  readonly narSize: number;
  /** Full store paths, sorted ascending; a self-reference is included, as Nix records it. */
  readonly references: readonly string[];
  readonly deriver: string | undefined;
}

/** The queries the submission resolver makes (NixStore implements them; tests may wrap it). */
export interface NixQueries {
  /** Output paths of a derivation, sorted as Nix prints them. */
  outputsOf(drvPath: string, signal?: AbortSignal): Promise<string[]>;
  /** Registration of each path, in the order asked; a path that is not valid throws. */
  pathInfo(paths: readonly string[], signal?: AbortSignal): Promise<PathInfo[]>;
}

/**
 * Runs `nix-store` with `args`; resolves with its stdout, rejects with a TrustixError
 * (NixUnavailableError, StorePathNotValidError, NixCommandError).
 */
export type NixStoreRunner = (args: readonly string[], signal?: AbortSignal) => Promise<string>;

export interface NixStoreInit {
  /** Store directory every path must be in. Default '/nix/store'. */
  readonly storeDir?: string;
  /** The program, looked up on PATH unless absolute. Default 'nix-store'. */
  readonly bin?: string;
  /** Environment of the child (NIX_CONF_DIR, NIX_REMOTE, …). Default: this process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** Time one call may take. Default 60 s (a busy daemon can be slow). */
  readonly timeoutMs?: number;
  /** Most bytes one call may print, per stream. Default 16 MiB (a closure of ~100,000 paths). */
  readonly maxOutputBytes?: number;
  /** Replaces the child process (tests). */
  readonly runner?: NixStoreRunner;
}

// argv stays far below ARG_MAX (2 MiB here): a store path is at most ~260 bytes.
const PATHS_PER_CALL = 500;

export class NixStore implements NixQueries {
  readonly storeDir: string;
  private readonly run: NixStoreRunner;

  constructor(init: NixStoreInit = {}) {
    this.storeDir = init.storeDir ?? DEFAULT_STORE_DIR;
    this.run =
      init.runner ??
      execRunner(
        init.bin ?? 'nix-store',
        init.env ?? process.env,
        init.timeoutMs ?? 60_000,
        init.maxOutputBytes ?? 16 * 1024 * 1024,
      );
  }

  /** Nix's version (e.g. '2.8.0'), or undefined when `nix-store` cannot be run at all. */
  async version(signal?: AbortSignal): Promise<string | undefined> {
    const args = ['--version'];
    let out: string;
    try {
      out = await this.run(args, signal);
    } catch (err) {
      if (err instanceof NixUnavailableError) return undefined;
      throw err;
    }
    // `nix-store (Nix) 2.8.0`; forks name themselves in the parentheses (`(Lix, like Nix)`).
    const m = /^nix-store \([^()\n]+\) ([0-9][^\s]*)\n$/.exec(out);
    if (m === null) throw unexpected(args, `version line ${JSON.stringify(out.slice(0, 80))}`);
    return m[1]!;
  }

  async outputsOf(drvPath: string, signal?: AbortSignal): Promise<string[]> {
    const drv = parseStorePath(drvPath, this.storeDir);
    // On a path that is not a derivation Nix prints the path itself: refuse before asking.
    if (!drv.name.endsWith('.drv')) throw new MalformedError('derivation path', `${drv.path} is not a .drv`);
    const args = ['--query', '--outputs', drv.path];
    const out = await this.run(args, signal);
    return parsed(args, () => lines(out).map((line) => parseStorePath(line, this.storeDir).path));
  }

  async pathInfo(paths: readonly string[], signal?: AbortSignal): Promise<PathInfo[]> {
    const checked = paths.map((p) => parseStorePath(p, this.storeDir).path);
    const out: PathInfo[] = [];
    for (let i = 0; i < checked.length; i += PATHS_PER_CALL) {
      const chunk = checked.slice(i, i + PATHS_PER_CALL);
      const args = ['--dump-db', ...chunk];
      const text = await this.run(args, signal);
      out.push(...parsed(args, () => parseRegistrations(lines(text), chunk, this.storeDir)));
    }
    return out;
  }

  /** The closure of `paths` (themselves included), each path once. */
  async requisites(paths: readonly string[], signal?: AbortSignal): Promise<string[]> {
    const checked = paths.map((p) => parseStorePath(p, this.storeDir).path);
    const closure = new Set<string>();
    for (let i = 0; i < checked.length; i += PATHS_PER_CALL) {
      const args = ['--query', '--requisites', ...checked.slice(i, i + PATHS_PER_CALL)];
      const text = await this.run(args, signal);
      for (const p of parsed(args, () => lines(text).map((l) => parseStorePath(l, this.storeDir).path)))
        closure.add(p);
    }
    return [...closure];
  }
}

/** Records of `--dump-db`, which must be exactly the `expected` paths in order. */
function parseRegistrations(input: string[], expected: readonly string[], storeDir: string): PathInfo[] {
  let i = 0;
  const next = (what: string): string => {
    const line = input[i++];
    if (line === undefined) throw new MalformedError('nix-store --dump-db output', `ends before ${what}`);
    return line;
  };
  const infos = expected.map((path) => {
    const printed = next('a path');
    if (printed !== path)
      throw new MalformedError('nix-store --dump-db output', `record for ${printed}, expected ${path}`);
    const narHash = parseRegisteredHash(next('the NAR hash'));
    const narSize = parseDecimal(next('the NAR size'), 'registered NAR size');
    const deriverLine = next('the deriver');
    const deriver = deriverLine === '' ? undefined : parseStorePath(deriverLine, storeDir).path;
    const count = parseDecimal(next('the reference count'), 'registered reference count');
    if (count > input.length - i)
      throw new MalformedError('nix-store --dump-db output', 'truncated references');
    const references: string[] = [];
    for (let r = 0; r < count; r++) references.push(parseStorePath(next('a reference'), storeDir).path);
    references.sort();
    for (let r = 1; r < references.length; r++) {
      if (references[r - 1] === references[r])
        throw new MalformedError('nix-store --dump-db output', `duplicate reference ${references[r]}`);
    }
    return { path, narHash, narSize, references, deriver };
  });
  if (i !== input.length) throw new MalformedError('nix-store --dump-db output', 'trailing lines');
  return infos;
}

const HEX_RE = /^[0-9a-f]{64}$/;

/** Nix 2.x prints bare lowercase hex; accept a prefixed spelling too should a later Nix print one. */
function parseRegisteredHash(text: string): Uint8Array {
  if (HEX_RE.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  return parseSha256(text, 'registered NAR hash');
}

/** Lines of a newline-terminated listing ('' = none). */
function lines(text: string): string[] {
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new MalformedError('nix-store output', 'last line is not terminated');
  return text.slice(0, -1).split('\n');
}

/** Runs a parser over nix-store output; a parse failure is the command's fault, not the caller's input's. */
function parsed<T>(args: readonly string[], parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof MalformedError) throw unexpected(args, err.message, err);
    throw err;
  }
}

function unexpected(args: readonly string[], what: string, cause?: unknown): NixCommandError {
  return new NixCommandError(args, `unexpected output: ${what}`, cause === undefined ? undefined : { cause });
}

// Nix colours its messages only on a terminal; strip escapes anyway before matching.
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are control characters.
const ANSI_RE = /\u001b\[[0-9;]*m/g;
const NOT_VALID_RE =
  /^error: path '([^'\n]+)' (is not valid|is not in the Nix store|does not exist and cannot be created)$/m;

/** The default runner: execFile with a timeout, a kill on timeout, and output caps. */
function execRunner(
  bin: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  maxOutputBytes: number,
): NixStoreRunner {
  return (args, signal) =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      execFile(
        bin,
        args,
        {
          env,
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: maxOutputBytes,
          encoding: 'utf8',
          ...(signal === undefined ? {} : { signal }),
        },
        (err, stdout, stderr) => {
          log.trace('nix-store %s: %d ms', args[0], Math.round(performance.now() - started));
          if (err === null) return resolve(stdout);
          reject(classify(bin, args, err, stderr, timeoutMs, maxOutputBytes));
        },
      );
    });
}

function classify(
  bin: string,
  args: readonly string[],
  err: ExecFileException,
  stderr: string,
  timeoutMs: number,
  maxOutputBytes: number,
): Error {
  if (err.code === 'ENOENT' || err.code === 'EACCES')
    return new NixUnavailableError(
      `cannot run ${bin} (${err.code}): Nix is not installed or not on PATH; path and derivation ` +
        'submissions need it (references come only from its database)',
      { cause: err },
    );
  if (err.name === 'AbortError') return err;
  if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER')
    return new NixCommandError(args, `printed more than ${maxOutputBytes} bytes`, { cause: err });
  if (err.killed === true)
    return new NixCommandError(args, `timed out after ${timeoutMs} ms`, { cause: err });
  const text = stderr.replace(ANSI_RE, '');
  const m = NOT_VALID_RE.exec(text);
  if (m !== null) return new StorePathNotValidError(m[1]!, `Nix says: ${m[2]}`);
  const last = text.trim().split('\n').slice(-3).join(' | ').slice(0, 500);
  const how = typeof err.code === 'number' ? `exit code ${err.code}` : `signal ${err.signal ?? err.code}`;
  return new NixCommandError(args, `${how}${last === '' ? '' : `: ${last}`}`, { cause: err });
}
