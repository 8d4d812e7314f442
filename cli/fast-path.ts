/**
 * The fast path (docs/CLI.md): a client command whose command line is plain runs without
 * yargs. Loading yargs costs a client command more than everything else it does (its help machinery
 * alone, cliui and three copies of string-width, builds Unicode tables at import), so cli/main.ts asks
 * this module first and loads yargs only when it answers undefined.
 *
 * Plain means: the command's name, then its positionals and options; before the name only global
 * options. An option is `--name value`, `--name=value`, or a boolean's bare `--name`, each at most once;
 * a value is not empty and does not start with `-`; a number is digits; a choice is one of its choices.
 * Anything else (`--help`, `-h`, `--no-json`, `--json=false`, `--json false`, `--`, a repeated or
 * unknown option, a missing positional) goes to yargs, which parses it the same way or explains the mistake: the fast path
 * never refuses a command line, and never reads one differently from yargs (test/cli-fast-path.test.ts).
 */

/** An option as both yargs (`.options(...)`) and the fast path read it. */
export interface FlagSpec {
  readonly type: 'boolean' | 'string' | 'number';
  readonly describe: string;
  readonly default?: boolean | string | number;
  readonly choices?: readonly string[];
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** What a command declares so that the fast path can run it: its own options and its variadic positional. */
export interface FastSpec {
  readonly options: FlagSpecs;
  /** The variadic positional (`decide <paths..>`), at least one word; none: the command takes no word. */
  readonly positional?: string;
}

/** kebab-case to camelCase, as yargs adds both keys. */
const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * The arguments yargs would hand `name`'s handler for `argv` (both the kebab-case and camelCase keys,
 * defaults applied), or undefined when `argv` is not plain.
 */
export function fastArgs(
  argv: readonly string[],
  name: string,
  globals: FlagSpecs,
  spec: FastSpec,
): Record<string, unknown> | undefined {
  const values = new Map<string, boolean | string | number>();
  const words: string[] = [];
  let named = false;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (!word.startsWith('-')) {
      if (named) words.push(word);
      else if (word === name) named = true;
      else return undefined;
      continue;
    }
    if (!word.startsWith('--') || word === '--') return undefined;
    const eq = word.indexOf('=');
    const key = eq < 0 ? word.slice(2) : word.slice(2, eq);
    const flag = Object.hasOwn(globals, key)
      ? globals[key]
      : named && Object.hasOwn(spec.options, key)
        ? spec.options[key]
        : undefined;
    if (flag === undefined || values.has(key)) return undefined;
    if (flag.type === 'boolean') {
      // yargs takes a `true` or `false` after a boolean as its value.
      if (eq >= 0 || argv[i + 1] === 'true' || argv[i + 1] === 'false') return undefined;
      values.set(key, true);
      continue;
    }
    const raw = eq >= 0 ? word.slice(eq + 1) : argv[++i];
    if (raw === undefined || raw === '' || raw.startsWith('-')) return undefined;
    if (flag.choices !== undefined && !flag.choices.includes(raw)) return undefined;
    if (flag.type === 'number') {
      if (!/^[0-9]{1,15}$/.test(raw)) return undefined;
      values.set(key, Number(raw));
    } else values.set(key, raw);
  }
  if (!named) return undefined;
  if (spec.positional === undefined ? words.length > 0 : words.length === 0) return undefined;
  const args: Record<string, unknown> = { _: [name], $0: 'trustix' };
  for (const [key, flag] of [...Object.entries(globals), ...Object.entries(spec.options)]) {
    const value = values.get(key) ?? flag.default;
    if (value === undefined) continue;
    args[key] = value;
    args[camel(key)] = value;
  }
  if (spec.positional !== undefined) args[spec.positional] = words;
  return args;
}
