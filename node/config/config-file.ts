/**
 * Reading a config file: JSON with comments (`//`, `/* *\/`) and trailing commas, parsed with positions
 * (jsonc-parser) so that every error names the file, the line and the option. The options themselves
 * are node/config/config-parser.ts's business; this module gives it typed, checked access to the tree.
 */
import { readFile } from 'node:fs/promises';
import { type Node, type ParseError, parseTree, printParseErrorCode } from 'jsonc-parser';
import { ConfigError } from '../errors.ts';

export { ConfigError };

/** Largest config file read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** The text of a config file; undefined when it does not exist and is not `required`. */
export async function readConfigText(file: string, required: boolean): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined;
    throw new ConfigError(file, undefined, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  if (bytes.length > MAX_CONFIG_BYTES)
    throw new ConfigError(file, undefined, `larger than ${MAX_CONFIG_BYTES} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new ConfigError(file, undefined, 'not UTF-8 text', { cause });
  }
}

/** Checked access to a parsed config tree; every method throws ConfigError naming line and option. */
export class ConfigReader {
  readonly file: string;
  private readonly text: string;

  constructor(file: string, text: string) {
    this.file = file;
    this.text = text;
  }

  /** The root node (undefined for an empty file). */
  root(): Node | undefined {
    if (this.text.trim() === '') return undefined;
    const errors: ParseError[] = [];
    const root = parseTree(this.text, errors, { allowTrailingComma: true, disallowComments: false });
    const first = errors[0];
    if (first !== undefined)
      throw new ConfigError(
        this.file,
        this.lineOf(first.offset),
        `not valid JSON: ${printParseErrorCode(first.error)}`,
      );
    return root;
  }

  fail(node: Node, option: string, message: string): never {
    throw new ConfigError(this.file, this.lineOf(node.offset), `${option}: ${message}`);
  }

  /** An object's [key, value] nodes; a key given twice is an error (JSON would keep the last silently). */
  properties(node: Node, option: string): [string, Node, Node][] {
    if (node.type !== 'object') this.fail(node, option, 'expected an object { ... }');
    const seen = new Set<string>();
    return (node.children ?? []).map((p) => {
      const [k, v] = p.children as [Node, Node];
      const key = k.value as string;
      if (seen.has(key)) this.fail(k, this.join(option, key), 'given twice');
      seen.add(key);
      return [key, k, v];
    });
  }

  /** Calls `handlers[key]` for each property; an unknown key is an error listing the known ones. */
  object(node: Node, option: string, handlers: Record<string, (value: Node, option: string) => void>): void {
    for (const [key, k, v] of this.properties(node, option)) {
      const handle = handlers[key];
      if (handle === undefined)
        this.fail(k, this.join(option, key), `unknown option (known: ${Object.keys(handlers).join(', ')})`);
      handle(v, this.join(option, key));
    }
  }

  array(node: Node, option: string): Node[] {
    if (node.type !== 'array') this.fail(node, option, 'expected an array [ ... ]');
    return node.children ?? [];
  }

  string(node: Node, option: string): string {
    if (node.type !== 'string' || node.value === '') this.fail(node, option, 'expected a non-empty string');
    return node.value as string;
  }

  integer(node: Node, option: string, min: number, max: number): number {
    if (node.type !== 'number' || !Number.isSafeInteger(node.value) || node.value < min || node.value > max)
      this.fail(node, option, `expected a whole number from ${min} to ${max}`);
    return node.value as number;
  }

  /** `parse(value)` of a string option, its errors reported at the value's line. */
  parsed<T>(node: Node, option: string, parse: (text: string) => T): T {
    const text = this.string(node, option);
    try {
      return parse(text);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      return this.fail(node, option, (err as Error).message);
    }
  }

  /** Option paths read `vote[0].threshold`; the root object is `config`, left out of its members' paths. */
  private join(option: string, key: string): string {
    return option === 'config' ? key : `${option}.${key}`;
  }

  /** The 1-based line of an offset in the text. */
  lineOf(offset: number): number {
    let line = 1;
    for (let i = this.text.indexOf('\n'); i !== -1 && i < offset; i = this.text.indexOf('\n', i + 1)) line++;
    return line;
  }
}
