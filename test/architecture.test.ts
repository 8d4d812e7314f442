/**
 * The architecture of docs/ARCHITECTURE.md, checked on the sources: no import circles, node/'s rooms
 * import only downwards, protocol/ is pure, and cli/, bench/ and bootstrap/ enter node/ and protocol/
 * through their doors (node/index.ts, protocol/index.ts). Imports are read with TypeScript's own
 * pre-processor (static, type-only, re-exports and dynamic imports alike).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import test from 'ava';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '..');
const LAYERS = ['protocol', 'node', 'cli', 'bootstrap', 'bench'] as const;

/**
 * node/'s rooms from the bottom up: a module may import its own room and rooms of a lower rank; rooms of
 * one rank stay independent of each other. The node's assembly (node/assembly/) and the demo are on top.
 */
const NODE_RANKS: readonly (readonly string[])[] = [
  ['errors', 'runtime', 'socket'],
  ['store', 'http'],
  ['own-log', 'monitor', 'vote', 'upstream'],
  ['sync'],
  ['stats'],
  ['network'],
  ['routes', 'control', 'config'],
  ['assembly'],
  ['demo'],
  ['doors'],
];
const NODE_DOORS = ['node/index.ts', 'node/client.ts'];
/**
 * The legacy post-build hook is plain JavaScript run without a TypeScript loader, so it cannot enter
 * through a TypeScript door: it uses the socket's JavaScript client directly.
 */
const PLAIN_JS = new Map([['cli/bin/trustix-post-build-hook.js', 'node/socket/submit-client.js']]);
const PROTOCOL_BUILTINS = new Set(['node:crypto']);

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
    .filter((f) => !f.startsWith('node/routes/dashboard/')); // the browser's code, served as assets
}

/** Every module specifier a file imports or re-exports, statically or dynamically. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

const FILES = LAYERS.flatMap(sources);
/** file → the repository files it imports (relative specifiers only). */
const GRAPH = new Map(
  FILES.map((file) => [
    file,
    importsOf(file)
      .filter((s) => s.startsWith('.'))
      .map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).replace(/\.js$/, (m) => m)),
  ]),
);

function roomOf(file: string): string {
  if (NODE_DOORS.includes(file)) return 'doors';
  const parts = file.split('/');
  if (parts.length === 2) return parts[1] === 'errors.ts' ? 'errors' : 'assembly';
  return parts[1]!;
}
const rankOf = (room: string) => NODE_RANKS.findIndex((rooms) => rooms.includes(room));

test('every node/ file lies in a room of the architecture', (t) => {
  const unknown = FILES.filter((f) => f.startsWith('node/') && rankOf(roomOf(f)) < 0);
  t.deepEqual(unknown, [], 'add the room to docs/ARCHITECTURE.md and NODE_RANKS');
});

test('no import circles', (t) => {
  // Tarjan's strongly connected components; every component of more than one file is a circle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of GRAPH.get(v) ?? []) {
      if (!GRAPH.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) circles.push(component.sort());
  };
  for (const file of GRAPH.keys()) if (!index.has(file)) visit(file);
  t.deepEqual(circles, []);
});

test('node/ rooms import only their own room and lower ranks', (t) => {
  const wrong: string[] = [];
  for (const [file, targets] of GRAPH) {
    if (!file.startsWith('node/')) continue;
    const from = roomOf(file);
    for (const target of targets) {
      if (!target.startsWith('node/')) continue;
      const to = roomOf(target);
      if (to === from) continue;
      if (rankOf(to) >= rankOf(from)) wrong.push(`${file} (${from}) -> ${target} (${to})`);
    }
  }
  t.deepEqual(wrong, []);
});

test('protocol/ is pure: it imports only protocol/ and node:crypto', (t) => {
  const wrong: string[] = [];
  for (const file of FILES.filter((f) => f.startsWith('protocol/')))
    for (const spec of importsOf(file)) {
      const inside = spec.startsWith('./');
      if (!inside && !PROTOCOL_BUILTINS.has(spec) && !spec.startsWith('@noble/'))
        wrong.push(`${file}: ${spec}`);
    }
  t.deepEqual(wrong, []);
});

test('node/ never imports cli/, bench/ or bootstrap/; cli/, bench/ and bootstrap/ enter through the doors', (t) => {
  const wrong: string[] = [];
  for (const [file, targets] of GRAPH) {
    const layer = file.split('/')[0]!;
    for (const target of targets) {
      const to = target.split('/')[0]!;
      if (layer === 'protocol' && to !== 'protocol') wrong.push(`${file} -> ${target}`);
      if (layer === 'node' && !['node', 'protocol'].includes(to)) wrong.push(`${file} -> ${target}`);
      if (['cli', 'bench', 'bootstrap'].includes(layer)) {
        if (to === 'node' && !NODE_DOORS.includes(target) && PLAIN_JS.get(file) !== target)
          wrong.push(`${file} -> ${target}`);
        if (to === 'protocol' && target !== 'protocol/index.ts') wrong.push(`${file} -> ${target}`);
      }
    }
  }
  t.deepEqual(wrong, []);
});
