#!/usr/bin/env node
/**
 * The compiled build: every TypeScript module the node runs, compiled file for file to plain JavaScript
 * in dist/ (`npm run build`; also the `prepare` script, so `npm install` makes it). cli/bin/trustix.js
 * runs it when it is fresh, instead of loading the sources through tsx: tsx compiles on a loader thread
 * with its own V8 heap, which costs a node about 65 MB of memory for as long as it runs.
 *
 * Fresh means: dist/build.json lists every compiled source with its size, mtime and SHA-256, and each
 * source still has that size and either that mtime or that content. The content is read only where the
 * mtime changed: in a Nix store, which sets every mtime to 1 s, a package still runs its build. An
 * edited checkout never runs stale code; it runs the sources through tsx until the next build. A compiled module keeps its source's location: `import.meta.url` is the .ts file's URL and
 * imports of files that are not compiled (assets, .js modules) point back into the source tree, so paths
 * derived from them (the dashboard's assets, the post-build hook printed by `start`) are the same either
 * way.
 *
 * Uses esbuild, which tsx depends on; without it the build is skipped and tsx does the work.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '..');
/** Where the build goes (git-ignored). */
export const DIST = join(ROOT, 'dist');
const MANIFEST = join(DIST, 'build.json');
/** The runtime source trees, compiled whole. */
const TREES = ['protocol', 'node', 'cli', 'bootstrap'];
/**
 * Single modules compiled too, where present: the network benchmark's follower, the light benchmark's
 * light node and the hostile benchmark's victim, which must run as users run a node. A package leaves them
 * out (package.json "files").
 */
const EXTRA = ['bench/network-follower.ts', 'bench/light-worker.ts', 'bench/hostile-victim.ts'];

/** Repository-relative paths of the sources to compile, sorted. */
function sources() {
  const found = EXTRA.filter((f) => existsSync(join(ROOT, f)));
  for (const tree of TREES)
    for (const entry of readdirSync(join(ROOT, tree), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
      found.push(relative(ROOT, join(entry.parentPath, entry.name)).split(sep).join('/'));
    }
  return found.sort();
}

function contentHash(file) {
  return createHash('sha256')
    .update(readFileSync(join(ROOT, file)))
    .digest('hex');
}

function stamp(file) {
  const s = statSync(join(ROOT, file));
  return { size: s.size, mtimeMs: s.mtimeMs, sha256: contentHash(file) };
}

/**
 * Whether dist/ holds a build of the sources as they are now: one stat per source (a few ms), and a
 * read and hash of those whose mtime changed (about 10 ms for all of them).
 */
export function isFresh() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return false;
  }
  try {
    for (const [file, was] of Object.entries(manifest.sources)) {
      if (EXTRA.includes(file) && !existsSync(join(ROOT, file))) continue; // a package leaves it out
      const now = statSync(join(ROOT, file));
      if (now.size !== was.size) return false;
      if (now.mtimeMs !== was.mtimeMs && contentHash(file) !== was.sha256) return false;
    }
  } catch {
    return false; // a source was removed
  }
  return true;
}

/** The URL of `source`'s compiled module (repository-relative .ts path), or undefined if dist/ is stale. */
export function compiledUrl(source) {
  if (!isFresh()) return undefined;
  return pathToFileURL(join(DIST, source.replace(/\.ts$/, '.js'))).href;
}

/**
 * Compiles the sources into a fresh dist/. Written to a temporary directory and swapped into place by
 * two renames, so dist/ is missing for an instant only; a node whose modules load across the swap gets
 * some from each build, the same code unless the sources changed meanwhile.
 */
export async function build() {
  const esbuild = await import('esbuild');
  const files = sources();
  const stamps = Object.fromEntries(files.map((f) => [f, stamp(f)]));
  const compiled = new Set(files.map((f) => join(ROOT, f)));
  const out = `${DIST}.tmp-${process.pid}`;
  rmSync(out, { recursive: true, force: true });
  const distFor = (source) => join(DIST, relative(ROOT, source)).replace(/\.ts$/, '.js');
  const relativeImport = (from, to) => {
    const path = relative(dirname(from), to).split(sep).join('/');
    return path.startsWith('.') ? path : `./${path}`;
  };
  try {
    await esbuild.build({
      entryPoints: files.map((f) => join(ROOT, f)),
      outdir: out,
      outbase: ROOT,
      // Bundling only to rewrite imports (below): every import stays an import of its own file.
      bundle: true,
      packages: 'external',
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'linked',
      logLevel: 'warning',
      plugins: [
        {
          name: 'file-for-file',
          setup(b) {
            b.onResolve({ filter: /^\.\.?\// }, (args) => {
              if (args.kind === 'entry-point') return undefined;
              const target = resolve(args.resolveDir, args.path);
              if (target.endsWith('.ts')) {
                if (!compiled.has(target))
                  return { errors: [{ text: `${args.path} is not compiled (outside ${TREES.join(', ')})` }] };
                return { path: relativeImport(distFor(args.importer), distFor(target)), external: true };
              }
              // Not compiled (a .js module, an asset): imported from the source tree.
              return { path: relativeImport(distFor(args.importer), target), external: true };
            });
            b.onLoad({ filter: /\.ts$/ }, (args) => {
              const text = readFileSync(args.path, 'utf8');
              if (/import\.meta\.(dirname|filename)/.test(text))
                return { errors: [{ text: 'use import.meta.url (the build maps it to the source file)' }] };
              const back = JSON.stringify(relativeImport(distFor(args.path), args.path));
              return {
                contents: text.replaceAll('import.meta.url', `new URL(${back}, import.meta.url).href`),
                loader: 'ts',
              };
            });
          },
        },
      ],
    });
    writeFileSync(join(out, 'build.json'), `${JSON.stringify({ sources: stamps }, null, 1)}\n`);
    // Sources edited during the build: this build is already stale, and says so.
    // Two renames, not a removal of the old tree first: dist/ is missing only between them, an instant.
    const old = `${DIST}.old-${process.pid}`;
    try {
      renameSync(DIST, old);
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    try {
      renameSync(out, DIST);
    } catch (err) {
      // Another build put its dist/ in place since: of the same sources, or newer.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      rmSync(out, { recursive: true, force: true });
    }
    rmSync(old, { recursive: true, force: true });
  } catch (err) {
    rmSync(out, { recursive: true, force: true });
    throw err;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  try {
    await build();
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    process.stderr.write('trustix build: esbuild is not installed; the node will run through tsx\n');
  }
}
