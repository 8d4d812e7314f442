/**
 * Decompressing a NAR file as a narinfo's `Compression:` says: 'none'; 'xz', 'bzip2' (also when the
 * field is absent: Nix's default) and 'zstd' through their programs (Node has no codec for them);
 * 'gzip' and 'br' through node:zlib. Streams in, streams out; the programs run without a shell.
 */
import { spawn } from 'node:child_process';
import { pipeline, Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip } from 'node:zlib';
import { logger } from '@libp2p/logger';
import { MalformedError, TooLargeError } from '../../protocol/errors.ts';
import { ExternalToolError } from '../errors.ts';

const log = logger('trustix:decompress');

export interface ToolOptions {
  /** Environment of the child; its PATH finds the program. Default: this process's. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface DecompressOptions extends ToolOptions {
  /** Most bytes of output (a NAR's decided size): TooLargeError past it, the decompressor stopped. */
  readonly maxBytes?: number;
}

/**
 * The decompressors' memory limits: xz and zstd refuse a stream whose window needs more (Nix's own
 * NARs need about 10 MiB with xz -6 and 8 MiB with zstd -3), so a crafted header cannot make them
 * allocate gigabytes.
 */
export const XZ_MEMLIMIT = '--memlimit-decompress=256MiB';
export const ZSTD_MEMLIMIT = '--memory=256MB';

/**
 * The decompressed bytes of `stream` compressed as a narinfo's `Compression:` says: 'none', 'xz',
 * 'bzip2' (also when undefined: Nix's default), 'zstd' (through the `xz`, `bzip2`, `zstd` programs),
 * 'gzip', 'br' (node:zlib). Throws MalformedError at once for anything else. Bound the output where it
 * is read (readNar's maxSize): a small download can decompress to a huge NAR.
 */
export function decompress(
  stream: AsyncIterable<Uint8Array>,
  compression: string | undefined,
  options: DecompressOptions = {},
): AsyncIterable<Uint8Array> {
  const c = compression ?? 'bzip2';
  const out = decompressed(stream, c, options);
  return options.maxBytes === undefined ? out : capped(out, options.maxBytes);
}

function decompressed(
  stream: AsyncIterable<Uint8Array>,
  c: string,
  options: ToolOptions,
): AsyncIterable<Uint8Array> {
  switch (c) {
    case 'none':
      return stream;
    case 'xz':
      return pipeThroughTool(c, ['-dc', XZ_MEMLIMIT], stream, options);
    case 'zstd':
      return pipeThroughTool(c, ['-dc', ZSTD_MEMLIMIT], stream, options);
    case 'bzip2': // at most about 4 MiB by its format
      return pipeThroughTool(c, ['-dc'], stream, options);
    case 'gzip':
      return throughZlib(c, stream, createGunzip);
    case 'br':
      return throughZlib(c, stream, createBrotliDecompress);
    default:
      throw new MalformedError('narinfo', `unsupported Compression ${JSON.stringify(c.slice(0, 100))}`);
  }
}

/** `input`, stopped with TooLargeError past `maxBytes` (leaving the loop stops the decompressor). */
async function* capped(input: AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of input) {
    total += chunk.length;
    if (total > maxBytes) throw new TooLargeError('decompressed NAR', total, maxBytes);
    yield chunk;
  }
}

/** `input`, recording an error it throws (to tell it apart from the decompressor's own failures). */
function tracked(input: AsyncIterable<Uint8Array>, failed: { error?: unknown }): Readable {
  return Readable.from(
    (async function* () {
      try {
        yield* input;
      } catch (error) {
        failed.error = error;
        throw error;
      }
    })(),
  );
}

async function* throughZlib(
  name: string,
  input: AsyncIterable<Uint8Array>,
  create: () => NodeJS.ReadWriteStream & Readable,
): AsyncGenerator<Uint8Array> {
  const failed: { error?: unknown } = {};
  const inflate = create();
  // Errors on either side destroy `inflate`, which ends the loop below with the error.
  pipeline(tracked(input, failed), inflate, () => {});
  try {
    for await (const chunk of inflate as AsyncIterable<Buffer>) yield chunk;
  } catch (cause) {
    if ('error' in failed) throw failed.error;
    throw new MalformedError(`${name} stream`, cause instanceof Error ? cause.message : String(cause), {
      cause,
    });
  }
}

const STDERR_CAP = 64 * 1024;

/**
 * `input` piped through `command args` (no shell); yields its stdout. Throws ExternalToolError when the
 * program is missing or exits non-zero (with its stderr), and rethrows an error of `input` itself.
 * Stopping early kills the program.
 */
export async function* pipeThroughTool(
  command: string,
  args: readonly string[],
  input: AsyncIterable<Uint8Array>,
  options: ToolOptions = {},
): AsyncGenerator<Uint8Array> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new ExternalToolError(command, `cannot run it (${err.code}): is it installed and on PATH?`, '', {
          cause: err,
        }),
      ),
    );
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  exited.catch(() => {}); // Observed below; a consumer that stops early never looks.
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < STDERR_CAP) stderr += s.slice(0, STDERR_CAP - stderr.length);
  });
  const failed: { error?: unknown } = {};
  const source = tracked(input, failed);
  // EPIPE here means the program exited early: its exit status says why.
  pipeline(source, child.stdin, () => {});
  let error: unknown;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) yield chunk;
    const { code, signal } = await exited;
    if (code !== 0) error = new ExternalToolError(command, `exited with ${code ?? signal}`, stderr);
  } catch (err) {
    error = err;
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      log('stopping %s early', command);
      child.kill('SIGKILL');
    }
    source.destroy();
  }
  // An input that failed is the cause; the program then only saw its input end early.
  if ('error' in failed) throw failed.error;
  if (error !== undefined) throw error;
}
