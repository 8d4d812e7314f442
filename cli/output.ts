/**
 * How commands print: one JSON document with --json, human text otherwise. Only the CLI writes to stdout.
 */
export interface OutputOptions {
  readonly json: boolean;
}

/** Prints `value` as JSON (with --json) or the text `human` returns. */
export function print<T>(options: OutputOptions, value: T, human: (value: T) => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${human(value)}\n`);
}
