/**
 * How commands print: one JSON document with --json, human text otherwise, on the run's own stdout
 * (cli/io.ts). Only the CLI writes to stdout.
 */
import type { CliIo } from './io.ts';

export interface OutputOptions {
  readonly json: boolean;
  readonly io: CliIo;
}

/** Prints `value` as JSON (with --json) or the text `human` returns. */
export function print<T>(options: OutputOptions, value: T, human: (value: T) => string): void {
  options.io.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${human(value)}\n`);
}
