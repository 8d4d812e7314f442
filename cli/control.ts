/**
 * Talking to the running node over its control socket (the data directory's trustix.sock, or
 * $TRUSTIX_SOCKET).
 */

import { request, socketPath } from '../node/client.ts';
import { dataDirOf, type GlobalOptions } from './global-options.ts';

/** The node's control socket: $TRUSTIX_SOCKET, else the data directory's. */
export function controlSocket(argv: GlobalOptions): string {
  return argv.io.env['TRUSTIX_SOCKET'] || socketPath(dataDirOf(argv));
}

/** Sends `{op, ...fields}` to the node of the data directory and returns its answer. */
export async function control(
  argv: GlobalOptions,
  op: string,
  fields: Record<string, unknown> = {},
  options: { timeoutMs?: number; maxAnswerBytes?: number } = {},
) {
  return request(controlSocket(argv), { op, ...fields }, options);
}
