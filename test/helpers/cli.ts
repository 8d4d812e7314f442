/**
 * The `trustix` command run in this process (cli/main.ts), as a user would run it but without a child
 * process: its output collected as text, its environment a record (by default none of the test
 * process's TRUSTIX_* or DEBUG variables), its exit code returned. Tests of the binary itself (build,
 * README, demo, signals) run cli/bin/trustix.js in a child process instead (spawnCliUntil, CLI_BIN).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { main } from '../../cli/main.ts';

/** The binary, for the tests of the binary itself. */
export const CLI_BIN = join(import.meta.dirname, '..', '..', 'cli', 'bin', 'trustix.js');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliRunOptions {
  /** The environment (default: this process's, without TRUSTIX_* and DEBUG). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where relative paths resolve (default: this process's directory). */
  readonly cwd?: string;
  /** Stops a command that runs until stopped (start, bootstrap, demo, logs --watch). */
  readonly signal?: AbortSignal;
  /** Called with each complete line of stdout as it is written (to wait for one). */
  readonly onLine?: (line: string) => void;
}

function cleanEnv(): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('TRUSTIX_') && name !== 'DEBUG'),
  );
}

/** Runs `trustix ...args` in this process. */
export async function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  let partial = '';
  const code = await main(args, {
    stdout: {
      write: (text) => {
        stdout += text;
        if (options.onLine === undefined) return;
        const lines = (partial + text).split('\n');
        partial = lines.pop()!;
        for (const line of lines) options.onLine(line);
      },
    },
    stderr: {
      write: (text) => {
        stderr += text;
      },
    },
    env: options.env ?? cleanEnv(),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  return { code, stdout, stderr };
}

/**
 * Runs the binary in a child process until `lines` lines came out on stdout, then sends SIGINT; its exit
 * code and output. For what only a process shows: signals, the logger's own stderr.
 */
export function spawnCliUntil(
  args: readonly string[],
  lines: number,
  timeoutMs = 60_000,
): Promise<{ code: number | null; out: string[]; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: string[] = [];
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ${lines} lines within ${timeoutMs} ms: ${out.join('\n')}\n${err}`));
    }, timeoutMs);
    child.stderr.on('data', (d) => {
      err += d;
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      out.push(line);
      if (out.length === lines) child.kill('SIGINT');
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, out, err: `${err}${signal ? `\n(killed by ${signal})` : ''}` });
    });
  });
}
