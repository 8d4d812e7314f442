/**
 * diffoscope (https://diffoscope.org), when installed, for a closer look at two differing files: its
 * text report, with a time limit and an output cap.
 */
import { execFile } from 'node:child_process';
import { ExternalToolError } from '../errors.ts';

/** Whether `diffoscope --version` runs. */
export async function diffoscopeAvailable(bin = 'diffoscope'): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(bin, ['--version'], { timeout: 30_000, killSignal: 'SIGKILL' }, (err) => resolve(err === null));
  });
}

export interface DiffoscopeOptions {
  readonly timeoutMs: number;
  /** Most bytes of report kept; the rest is cut with a note. Default 1 MiB. */
  readonly maxOutputBytes?: number;
  /** The program. Default 'diffoscope' on PATH. */
  readonly bin?: string;
}

/** diffoscope's text report on two files ('' when identical). Exit 1 means "they differ": success. */
export function runDiffoscope(fileA: string, fileB: string, options: DiffoscopeOptions): Promise<string> {
  const max = options.maxOutputBytes ?? 1024 * 1024;
  // `--` so that a file name starting with '-' is not taken for an option.
  const args = ['--text', '-', '--', fileA, fileB];
  const limits = { timeout: options.timeoutMs, killSignal: 'SIGKILL' as const, maxBuffer: max };
  return new Promise((resolve, reject) => {
    execFile(options.bin ?? 'diffoscope', args, limits, (err, stdout, stderr) => {
      if (err === null || err.code === 1) return resolve(stdout);
      // execFile stops the program at the cap and hands over what fit.
      if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER')
        return resolve(`${stdout}\n[diffoscope output cut at ${max} bytes]\n`);
      const why =
        typeof err.code === 'string'
          ? `cannot run it (${err.code})`
          : err.killed
            ? `timed out after ${options.timeoutMs} ms`
            : `exited with ${err.code ?? err.signal}`;
      reject(new ExternalToolError('diffoscope', why, stderr, { cause: err }));
    });
  });
}
