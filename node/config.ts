/**
 * The node's configuration file: JSON with comments (`//`, `/* *\/`) and trailing commas allowed,
 * `<data-dir>/config.json` by default (`--config FILE`). Read and validated once at start; every
 * error names the file, the line and the option. Unknown options are errors (a typo must not be
 * silently ignored). Command-line flags override the file.
 *
 *   {
 *     // The vote: deciders tried in order until one decides (node/decider.ts).
 *     "vote": ["threshold 3/4", "trust cache.nixos.org-1"],
 *     // Binary caches the substituter takes narinfos and NARs from.
 *     "upstreams": ["https://cache.nixos.org", "file:///srv/nix-cache"],
 *     "substituter": { "priority": 30 }
 *   }
 *
 * A decider is a shorthand string (parseDeciderSpec) or an object:
 *   { "threshold": { "count": 3, "fraction": "3/4" } }   fraction as "M/N" or a decimal
 *   { "trust": "NAME" }
 *   { "script": "./decide.mjs", "timeoutMs": 1000 }       relative to the config file's directory
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Node, type ParseError, parseTree, printParseErrorCode } from 'jsonc-parser';
import { TrustixError } from '../protocol/errors.ts';
import { openBinaryCache } from './binary-cache.ts';
import { checkDeciderSpec, type DeciderSpec, parseDeciderSpec, parseFraction } from './decider.ts';

/** Largest config file read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export interface TrustixConfig {
  /** The file it came from (undefined: built-in defaults). */
  readonly file?: string;
  readonly vote?: readonly DeciderSpec[];
  readonly upstreams?: readonly string[];
  readonly substituter?: { readonly priority?: number };
}

/** A config file that cannot be used; the message names the file, line and option. */
export class ConfigError extends TrustixError {
  readonly file: string;
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, message: string, options?: ErrorOptions) {
    super('ERR_CONFIG', `${file}${line === undefined ? '' : `:${line}`}: ${message}`, options);
    this.file = file;
    this.line = line;
  }
}

/**
 * Reads the config file. A missing file is the empty configuration unless `required` (a file named
 * with --config must exist). ConfigError for anything unusable.
 */
export async function loadConfig(file: string, required = false): Promise<TrustixConfig> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return {};
    throw new ConfigError(file, undefined, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  if (bytes.length > MAX_CONFIG_BYTES)
    throw new ConfigError(file, undefined, `larger than ${MAX_CONFIG_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new ConfigError(file, undefined, 'not UTF-8 text', { cause });
  }
  return parseConfig(text, file);
}

/** Parses and validates config text; `file` names it in errors and anchors relative paths. */
export function parseConfig(text: string, file: string): TrustixConfig {
  if (text.trim() === '') return { file };
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  const lineOf = (offset: number) => {
    let line = 1;
    for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
    return line;
  };
  const first = errors[0];
  if (first !== undefined)
    throw new ConfigError(file, lineOf(first.offset), `not valid JSON: ${printParseErrorCode(first.error)}`);
  if (root === undefined) return { file };
  const fail = (node: Node, option: string, message: string): never => {
    throw new ConfigError(file, lineOf(node.offset), `${option}: ${message}`);
  };
  if (root.type !== 'object') fail(root, 'config', 'expected an object { ... }');

  const config: {
    file: string;
    vote?: DeciderSpec[];
    upstreams?: string[];
    substituter?: { priority?: number };
  } = { file };
  for (const [key, value] of properties(root, fail)) {
    const option = key.value as string;
    switch (option) {
      case 'vote':
        config.vote = arrayOf(value, option, fail).map((item, i) =>
          decider(item, `vote[${i}]`, dirname(resolve(file)), fail),
        );
        if (config.vote.length === 0) fail(value, option, 'needs at least one decider');
        break;
      case 'upstreams':
        config.upstreams = arrayOf(value, option, fail).map((item, i) => {
          const url = stringOf(item, `upstreams[${i}]`, fail);
          try {
            return openBinaryCache(url).url;
          } catch (err) {
            return fail(item, `upstreams[${i}]`, (err as Error).message);
          }
        });
        break;
      case 'substituter': {
        if (value.type !== 'object') fail(value, option, 'expected an object');
        config.substituter = {};
        for (const [k, v] of properties(value, fail)) {
          if (k.value === 'priority') {
            if (v.type !== 'number' || !Number.isSafeInteger(v.value) || v.value < 0 || v.value > 1_000_000)
              fail(v, 'substituter.priority', 'expected a whole number 0..1000000');
            config.substituter.priority = v.value as number;
          } else fail(k, `substituter.${k.value}`, 'unknown option');
        }
        break;
      }
      default:
        fail(key, option, 'unknown option (known: vote, upstreams, substituter)');
    }
  }
  return config;
}

type Fail = (node: Node, option: string, message: string) => never;

/** An object's [key, value] nodes; a key given twice is an error (JSON would keep the last silently). */
function properties(node: Node, fail: Fail): [Node, Node][] {
  const seen = new Set<string>();
  return (node.children ?? []).map((p) => {
    const [k, v] = p.children as [Node, Node];
    if (seen.has(k.value)) fail(k, k.value, 'given twice');
    seen.add(k.value);
    return [k, v];
  });
}

function arrayOf(node: Node, option: string, fail: Fail): Node[] {
  if (node.type !== 'array') fail(node, option, 'expected an array [ ... ]');
  return node.children ?? [];
}

function stringOf(node: Node, option: string, fail: Fail): string {
  if (node.type !== 'string' || node.value === '') fail(node, option, 'expected a non-empty string');
  return node.value as string;
}

function decider(node: Node, option: string, baseDir: string, fail: Fail): DeciderSpec {
  const anchored = (spec: DeciderSpec): DeciderSpec =>
    spec.kind === 'script' ? { ...spec, module: resolve(baseDir, spec.module) } : spec;
  try {
    if (node.type === 'string') return anchored(parseDeciderSpec(node.value as string));
    if (node.type !== 'object')
      return fail(node, option, 'expected "threshold M/N", "trust NAME", "script PATH" or an object');
    const props = properties(node, fail);
    const [kind, value] = props[0] ?? fail(node, option, 'empty decider');
    const extra = (allowed: string[]) => {
      for (const [k] of props.slice(1))
        if (!allowed.includes(k.value)) fail(k, `${option}.${k.value}`, 'unknown option');
    };
    switch (kind.value) {
      case 'threshold': {
        extra([]);
        if (value.type !== 'object')
          return fail(value, `${option}.threshold`, 'expected { "count": M, "fraction": "M/N" }');
        let count: number | undefined;
        let fraction: ReturnType<typeof parseFraction> | undefined;
        for (const [k, v] of properties(value, fail)) {
          if (k.value === 'count') {
            if (v.type !== 'number') fail(v, `${option}.threshold.count`, 'expected a whole number >= 1');
            count = v.value as number;
          } else if (k.value === 'fraction') {
            if (v.type !== 'string' && v.type !== 'number')
              fail(v, `${option}.threshold.fraction`, 'expected "M/N" or a decimal 0..1');
            fraction = parseFraction(String(v.value));
          } else fail(k, `${option}.threshold.${k.value}`, 'unknown option (known: count, fraction)');
        }
        if (count === undefined || fraction === undefined)
          return fail(value, `${option}.threshold`, 'needs both count and fraction');
        return checkDeciderSpec({ kind: 'threshold', count, fraction });
      }
      case 'trust':
        extra([]);
        return checkDeciderSpec({ kind: 'trust', log: stringOf(value, `${option}.trust`, fail) });
      case 'script': {
        extra(['timeoutMs']);
        const timeout = props.find(([k]) => k.value === 'timeoutMs')?.[1];
        if (timeout !== undefined && timeout.type !== 'number')
          fail(timeout, `${option}.timeoutMs`, 'expected milliseconds');
        return anchored(
          checkDeciderSpec({
            kind: 'script',
            module: stringOf(value, `${option}.script`, fail),
            ...(timeout !== undefined ? { timeoutMs: timeout.value as number } : {}),
          }),
        );
      }
      default:
        return fail(kind, `${option}.${kind.value}`, 'unknown decider (known: threshold, trust, script)');
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return fail(node, option, (err as Error).message);
  }
}
