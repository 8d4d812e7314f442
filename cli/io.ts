/**
 * What a run of the CLI may touch of the world: its output streams, its environment, its working
 * directory and the signal that asks a long-running command to stop. cli/bin/trustix.js hands in the
 * process's own; tests hand in strings and a record (test/helpers/cli.ts). Nothing else in cli/ reads
 * `process`.
 */

/** An output stream: what the CLI needs of process.stdout and process.stderr. */
export interface CliOutput {
  write(text: string): void;
  /** A terminal: bars redrawn in place, colours. */
  readonly isTTY?: boolean;
  /** The terminal's width, for --help. */
  readonly columns?: number;
}

export interface CliIo {
  readonly stdout: CliOutput;
  readonly stderr: CliOutput;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where relative paths given on the command line are resolved (default: the process's directory). */
  readonly cwd?: string;
  /**
   * Aborted on SIGINT or SIGTERM, its reason the signal's name. Read only by commands that run until
   * stopped (`start`, `bootstrap`, `demo`, `logs --watch`, `import-cache`): the bin file catches the
   * signals only once this is read, so that Ctrl-C still ends any other command at once.
   */
  readonly signal?: AbortSignal;
}

/** The name of the signal that aborted `signal` ("SIGINT" when its reason says nothing). */
export function signalName(signal: AbortSignal): string {
  return typeof signal.reason === 'string' ? signal.reason : 'SIGINT';
}

/** Resolves once `signal` aborts; never when there is none. */
export function aborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
