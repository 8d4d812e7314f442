#!/usr/bin/env node
// Entry point of the `trustix` command: the compiled build (dist/, made by `npm install`, see
// scripts/build.mjs) when it matches the sources, else the TypeScript sources through tsx.
import { compiledUrl } from '../../scripts/build.mjs';

const compiled = compiledUrl('cli/main.ts');
if (compiled !== undefined) await import(compiled);
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../main.ts');
}
