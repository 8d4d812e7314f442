/**
 * What passes between the node and a decider script. The node reads the module's source itself (at most
 * 1 MiB) and hands it over as text; the votes go in as JSON and only a string (or null/undefined) comes
 * out, which counts only if a non-abstaining log voted for it. Its own module because this contract holds
 * whoever runs the script: the decider checks it, the worker (script-worker.ts) carries it.
 */
import { readFile } from 'node:fs/promises';
import { TrustixError } from '../../protocol/errors.ts';
import type { LogVote } from './decider-spec.ts';

/** Thrown by start() when the module cannot be loaded or exports no function `decide`. */
export class DeciderScriptError extends TrustixError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_DECIDER_SCRIPT', message, options);
  }
}

const MAX_SOURCE_BYTES = 1024 * 1024;

/** A failure's message, whatever was thrown. */
export function describe(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'unprintable error';
  }
}

/** The module's source, read by the node (the sandbox has no file access); at most MAX_SOURCE_BYTES. */
export async function readSource(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new DeciderScriptError(`Cannot find module '${path}'`);
    throw error;
  }
  if (bytes.length > MAX_SOURCE_BYTES) throw new DeciderScriptError(`larger than ${MAX_SOURCE_BYTES} bytes`);
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/** The votes as the script sees them. */
export function plainVotes(votes: readonly LogVote[]): object[] {
  // Plain copies: exactly the documented fields, whatever the caller's objects carry.
  return votes.map((v) => ({
    log: v.log,
    logId: v.logId,
    weight: v.weight,
    fingerprints: [...v.fingerprints],
    forked: v.forked,
  }));
}

/** Whether a non-abstaining log (not forked, one distinct fingerprint) voted for `value`. */
export function votedFor(votes: readonly LogVote[], value: string): boolean {
  return votes.some(
    (v) => !v.forked && v.fingerprints.length > 0 && v.fingerprints.every((f) => f === value),
  );
}
