// Records every module a Node process loads through ESM resolution, one URL a line, in the file named by
// $TRUSTIX_MODULE_LOG: `node --import ./test/helpers/module-log.mjs ...`. Imported in the main thread it
// registers itself as a module hook (module.register); in the hooks thread it is the hook.
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

const file = process.env.TRUSTIX_MODULE_LOG;

if (isMainThread) register(import.meta.url);

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (file) appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
