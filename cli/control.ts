/**
 * Talking to the running node over its control socket (the data directory's trustix.sock).
 */

import { request } from '../node/control/submit-client.js';
import { dataDir } from '../node/store/data-dir.ts';
import { dataDirOf, type GlobalOptions } from './global-options.ts';

/** Sends `{op, ...fields}` to the node of the data directory and returns its answer. */
export async function control(
  argv: GlobalOptions,
  op: string,
  fields: Record<string, unknown> = {},
  options: { timeoutMs?: number; maxAnswerBytes?: number } = {},
) {
  return request(
    process.env['TRUSTIX_SOCKET'] || dataDir(dataDirOf(argv)).socket,
    { op, ...fields },
    options,
  );
}
