/**
 * The node's configuration file: `<data-dir>/config.json` by default (`--config FILE`), JSON with
 * comments and trailing commas (node/config/config-file.ts). Read and validated once at start; every error
 * names the file, the line and the option, and unknown options are errors (a typo must not be silently
 * ignored). Command-line flags override the file. Every option, its default and an example:
 * docs/CLI.md, "The config file".
 *
 * This module loads the file and checks the files it names; what the options are: node/config/config-options.ts;
 * their parser: node/config/config-parser.ts (a decider: node/config/config-decider.ts; single values, which the flags
 * share: node/config/config-values.ts).
 */

import { InsecurePermissionsError } from '../errors.ts';
import { checkPermissions } from '../store/file-permissions.ts';
import { fileExists } from '../store/key-file.ts';
import { ConfigError, readConfigText } from './config-file.ts';
import type { TrustixConfig } from './config-options.ts';
import { type FileReference, parseConfigText } from './config-parser.ts';

export { ConfigError, MAX_CONFIG_BYTES } from './config-file.ts';

/**
 * Reads the config file. A missing file is the empty configuration unless `required` (a file named
 * with --config must exist). ConfigError for anything unusable.
 */
export async function loadConfig(file: string, required = false): Promise<TrustixConfig> {
  const text = await readConfigText(file, required);
  if (text === undefined) return {};
  // It can name a script the node runs: nobody else may be able to change it (docs/SECURITY.md).
  await checkPermissions(file, { what: 'the config file' });
  const named: FileReference[] = [];
  const config = parseConfigText(text, file, named);
  for (const f of named) {
    // A spool that does not exist yet is created by `init` or `start` (mode 0700).
    if (f.what !== 'the spool' && !(await fileExists(f.path)))
      throw new ConfigError(file, f.line, `${f.option}: ${f.path}: no such file`);
    await checkNamedPermissions(file, f);
  }
  return config;
}

/** checkPermissions of a file the config names, its refusal as a ConfigError naming the file's line too. */
async function checkNamedPermissions(file: string, f: FileReference) {
  try {
    await checkPermissions(f.path, { what: f.what });
  } catch (err) {
    if (err instanceof InsecurePermissionsError)
      throw new ConfigError(file, f.line, `${f.option}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Parses and validates config text; `file` names it in errors and anchors relative paths. */
export function parseConfig(text: string, file: string): TrustixConfig {
  return parseConfigText(text, file, []);
}
