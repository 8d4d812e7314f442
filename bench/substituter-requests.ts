/**
 * The substituter benchmark's request generators (bench/substituter.ts): CommonJS setupRequest modules
 * written to a directory and loaded by the autocannon worker, which picks each request's path in its own
 * thread, so that the paths need not be listed up front (a fresh path per request: cold, undecided).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A setupRequest module taking the next path of `paths` for each request, each path once. */
export async function pathModule(dir: string, name: string, paths: readonly string[]) {
  const file = join(dir, `${name}.cjs`);
  await writeFile(
    file,
    `'use strict';\nconst PATHS = ${JSON.stringify(paths)};\nlet i = 0;\nmodule.exports = (req) => {\n` +
      "  if (i >= PATHS.length) throw new Error('out of fresh paths');\n  req.path = PATHS[i++];\n  return req;\n};\n",
  );
  return file;
}

/** A setupRequest module asking for a fresh random hash part (no log holds it) each request. */
export async function randomPathModule(dir: string) {
  const file = join(dir, 'undecided.cjs');
  await writeFile(
    file,
    `'use strict';\nconst A = '0123456789abcdfghijklmnpqrsvwxyz';\n` +
      'module.exports = (req) => { let h = ""; for (let k = 0; k < 32; k++) h += A[Math.floor(Math.random() * 32)];\n' +
      "  req.path = '/' + h + '.narinfo'; return req; };\n",
  );
  return file;
}
