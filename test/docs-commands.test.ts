/**
 * Documentation drift is a test failure. Every `trustix <command>` or `npx trustix <command>` shown in
 * README.md, docs/*.md and docs/guides/*.md (fenced code blocks, with `\` continuations joined, and inline
 * code spans) must name a real subcommand, and every `--flag` written after it must be one that
 * subcommand's `--help` lists. The other way round, every subcommand of the CLI has a section in
 * docs/CLI.md (a heading naming `trustix <command>`) and is in its "Commands available now" list, and every
 * flag its `--help` lists is written in that section, in the global options before the first section,
 * or in the section of a command the section refers to (`trustix config show` takes start's flags).
 *
 * The help texts are the real CLI's: cli/main.ts run with `<command> --help` for every command in this
 * process (test/helpers/cli.ts), checked against `node cli/bin/trustix.js --help` run as a user would. Also here: docs/deploy/nixos-module.nix parses (`nix-instantiate --parse`, when Nix is installed)
 * and has a setting for every option of the config file (as docs/CLI.md's complete example shows them).
 */
import { execFile, spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { parse } from 'jsonc-parser';
import { parseConfig } from '../node/config/config.ts';
import { CLI_BIN, runCli } from './helpers/cli.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const CLI_MD = join(ROOT, 'docs', 'CLI.md');
/** Options yargs adds to every command; not the docs' business. */
const BUILT_IN_FLAGS = new Set(['help', 'version']);

/** A piece of code in a markdown file: one logical line of a fenced block, or an inline code span. */
interface Snippet {
  readonly file: string;
  readonly line: number;
  readonly code: string;
}

/** A `trustix <command>` invocation in a snippet, and the `--flags` written after it. */
interface Invocation extends Snippet {
  readonly command: string;
  readonly flags: readonly string[];
}

/** Fenced blocks (continuation lines joined) and inline code spans, with the line each starts on. */
function codeSnippets(file: string, markdown: string): Snippet[] {
  const lines = markdown.split('\n');
  const snippets: Snippet[] = [];
  const prose: string[] = [];
  let fence: string | undefined;
  let pending: { line: number; code: string } | undefined;
  for (const [i, line] of lines.entries()) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined) {
      if (marker !== undefined) fence = marker;
      prose.push(marker === undefined ? line : '');
      continue;
    }
    prose.push('');
    if (marker?.startsWith(fence) && line.trim() === marker) {
      if (pending) snippets.push({ file, ...pending });
      fence = undefined;
      pending = undefined;
      continue;
    }
    const continued = line.endsWith('\\');
    const text = continued ? line.slice(0, -1) : line;
    pending = pending
      ? { line: pending.line, code: `${pending.code} ${text.trim()}` }
      : { line: i + 1, code: text };
    if (!continued) {
      snippets.push({ file, ...pending });
      pending = undefined;
    }
  }
  const text = prose.join('\n');
  for (const m of text.matchAll(/`([^`]+)`/g)) {
    if (/\n\s*\n/.test(m[1]!)) continue; // unbalanced backticks: not a span
    const line = text.slice(0, m.index).split('\n').length;
    snippets.push({ file, line, code: m[1]!.replace(/\s*\n\s*/g, ' ') });
  }
  return snippets;
}

/** `trustix <command> ...` and `npx trustix <command> ...`, up to the end of that shell command. */
function invocations(snippet: Snippet): Invocation[] {
  const found: Invocation[] = [];
  // Not inside a path (…/trustix/cli/…) or a longer name (trustix-post-build-hook).
  for (const m of snippet.code.matchAll(/(?<![\w/.-])(?:npx\s+)?trustix\s+([a-z][a-z-]*)(?![\w-])/g)) {
    const rest = snippet.code
      .slice(m.index + m[0].length)
      .split(/&&|\|\||;|`|\s\|\s|\s#|(?<![\w/.-])(?:npx\s+)?trustix\s/)[0]!;
    const flags = [...rest.matchAll(/(?:^|[\s[(])--([a-z][a-z0-9-]*)/g)].map((f) => f[1]!);
    found.push({ ...snippet, code: `${m[0]}${rest}`.trim(), command: m[1]!, flags });
  }
  return found;
}

/** The Markdown files the docs are made of. */
async function docFiles(): Promise<string[]> {
  const files = [join(ROOT, 'README.md')];
  for (const dir of [join(ROOT, 'docs'), join(ROOT, 'docs', 'guides')])
    for (const name of (await readdir(dir)).sort()) if (name.endsWith('.md')) files.push(join(dir, name));
  return files;
}

async function docInvocations(): Promise<Invocation[]> {
  const all: Invocation[] = [];
  for (const file of await docFiles())
    for (const snippet of codeSnippets(relative(ROOT, file), await readFile(file, 'utf8')))
      all.push(...invocations(snippet));
  return all;
}

/** Help of every command, from cli/main.ts in this process: `{"": top-level help, "<command>": …}`. */
async function helpTexts(): Promise<Record<string, string>> {
  const texts: Record<string, string> = { '': (await runCli(['--help'])).stdout };
  for (const [, command] of texts['']!.matchAll(/^ {2}trustix ([a-z][a-z-]*)/gm))
    texts[command!] = (await runCli([command!, '--help'])).stdout;
  return texts;
}

interface Help {
  /** Each command's flags (without --), as its --help lists them. */
  readonly flags: ReadonlyMap<string, ReadonlySet<string>>;
}

function flagsOf(helpText: string): Set<string> {
  // Option lines start at column 2 to 6 (`  -h, --help`, `      --json`); wrapped descriptions further in.
  return new Set([...helpText.matchAll(/^ {2,6}(?:-[a-zA-Z], )?--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]!));
}

let helpPromise: Promise<Help> | undefined;
function help(): Promise<Help> {
  helpPromise ??= (async () => {
    const env = { ...process.env, FORCE_COLOR: '0' };
    const [texts, real] = await Promise.all([
      helpTexts(),
      run(process.execPath, [CLI_BIN, '--help'], { cwd: ROOT, env, timeout: 60_000 }),
    ]);
    if (texts['']!.trim() !== real.stdout.trim())
      throw new Error(`main.ts in one process printed another help than the real CLI:\n${texts['']}`);
    const flags = new Map<string, Set<string>>();
    for (const [command, text] of Object.entries(texts))
      if (command !== '') flags.set(command, flagsOf(text));
    return { flags };
  })();
  return helpPromise;
}

test('the extraction finds commands and flags in fenced blocks and inline code, and only there', (t) => {
  const markdown = [
    'Run `npx trustix start --http 127.0.0.1:1 --listen /ip4/0.0.0.0/tcp/1` and `trustix\nlogs --watch`.',
    'The `trustix` command; `trustix <command>`; /path/to/trustix/cli/bin/trustix-post-build-hook.js.',
    '',
    '   ```sh',
    '   npm install && npx trustix follow KEY \\',
    '     --name mercury --weight 2   # a comment --not-a-flag',
    '   trustix decide /nix/store/x && trustix logs --json | jq .',
    '   ```',
    'trustix init --name outside-code',
  ].join('\n');
  const found = codeSnippets('x.md', markdown).flatMap(invocations);
  t.deepEqual(
    found.map(({ line, command, flags }) => ({ line, command, flags })),
    [
      { line: 6, command: 'follow', flags: ['name', 'weight'] },
      { line: 8, command: 'decide', flags: [] },
      { line: 8, command: 'logs', flags: ['json'] },
      { line: 1, command: 'start', flags: ['http', 'listen'] },
      { line: 1, command: 'logs', flags: ['watch'] },
    ],
  );
});

test('every trustix command in the docs exists, with only the flags its --help lists', async (t) => {
  const [{ flags }, found] = await Promise.all([help(), docInvocations()]);
  t.true(flags.size >= 10, `commands from trustix --help: ${[...flags.keys()].join(' ')}`);
  t.log(`${found.length} invocations of ${new Set(found.map((i) => i.command)).size} commands`);
  t.true(found.length >= 30, `only ${found.length} invocations found in the docs: is the extraction broken?`);
  const problems: string[] = [];
  for (const inv of found) {
    const known = flags.get(inv.command);
    const where = `${inv.file}:${inv.line}: \`${inv.code}\``;
    if (known === undefined) {
      problems.push(`${where}: no command "${inv.command}" in trustix --help`);
      continue;
    }
    for (const flag of inv.flags)
      if (!known.has(flag))
        problems.push(
          `${where}: trustix ${inv.command} has no --${flag} (it has ${[...known].map((f) => `--${f}`).join(' ')})`,
        );
  }
  t.deepEqual(problems, [], problems.join('\n'));
});

test('docs/CLI.md has a section for every command, listing every flag its --help has', async (t) => {
  const [{ flags }, cliMd] = await Promise.all([help(), readFile(CLI_MD, 'utf8')]);
  const [intro, ...sections] = cliMd.split(/^(?=## )/m);
  const sectionOf = (command: string) =>
    sections.find((s) => new RegExp(`^## .*\`trustix ${command}(?![\\w-])`).test(s.split('\n')[0]!));
  const problems: string[] = [];
  const listed = /Commands available now: ([^.]+)\./.exec(intro!.replace(/\s+/g, ' '))?.[1];
  const listedCommands = new Set([...(listed ?? '').matchAll(/`([a-z-]+)`/g)].map((m) => m[1]!));
  for (const [command, commandFlags] of flags) {
    if (!listedCommands.has(command)) problems.push(`${command}: not in "Commands available now"`);
    const section = sectionOf(command);
    if (section === undefined) {
      problems.push(`${command}: no "## \`trustix ${command} …\`" section`);
      continue;
    }
    // A section that refers to another command (`trustix start`) documents that command's flags too.
    const referred = [...section.matchAll(/`trustix ([a-z][a-z-]*)/g)]
      .map((m) => sectionOf(m[1]!))
      .filter((s) => s !== undefined);
    const text = [intro, section, ...referred].join('\n');
    for (const flag of commandFlags)
      if (!BUILT_IN_FLAGS.has(flag) && !new RegExp(`--${flag}(?![\\w-])`).test(text))
        problems.push(`${command}: --${flag} is not documented in its section of docs/CLI.md`);
  }
  for (const command of listedCommands)
    if (!flags.has(command)) problems.push(`"Commands available now" names ${command}, which trustix lacks`);
  t.deepEqual(problems, [], problems.join('\n'));
});

test('the NixOS module has a setting for every option of the config file docs/CLI.md shows', async (t) => {
  const [cliMd, module] = await Promise.all([
    readFile(CLI_MD, 'utf8'),
    readFile(join(ROOT, 'docs', 'deploy', 'nixos-module.nix'), 'utf8'),
  ]);
  const section = cliMd.slice(cliMd.indexOf('## The config file'));
  const example = /```jsonc\n([\s\S]*?)\n```/.exec(section)?.[1];
  if (example === undefined) return t.fail('no ```jsonc example in "The config file" of docs/CLI.md');
  // The example is a config file Trustix accepts, and it shows every option (a new one must be added there).
  t.notThrows(() => parseConfig(example, '/etc/trustix/config.json'));
  const options: string[] = [];
  for (const [key, value] of Object.entries(parse(example) as Record<string, unknown>)) {
    options.push(key);
    const nested = Array.isArray(value) ? value[0] : value;
    if (key !== 'vote' && typeof nested === 'object' && nested !== null)
      options.push(...Object.keys(nested).map((k) => `${key}.${k}`));
  }
  t.true(options.length >= 11, options.join(' '));
  const missing = options.filter(
    (o) => !new RegExp(`\\b${o.split('.').at(-1)} = (?:fileOption|mkOption)\\b`).test(module),
  );
  t.deepEqual(
    missing,
    [],
    `options without a setting in docs/deploy/nixos-module.nix: ${missing.join(', ')}`,
  );
});

const hasNix = spawnSync('nix-instantiate', ['--version'], { stdio: 'ignore' }).status === 0;
(hasNix ? test : test.skip)(
  `docs/deploy/nixos-module.nix parses${hasNix ? '' : ' (skipped: nix-instantiate is not installed)'}`,
  async (t) => {
    // --parse also resolves every variable (the module uses no `with`), so a typo in a name fails here.
    const { stdout } = await run('nix-instantiate', [
      '--parse',
      join(ROOT, 'docs', 'deploy', 'nixos-module.nix'),
    ]);
    t.true(stdout.length > 0);
  },
);
