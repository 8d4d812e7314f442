/**
 * The refusals of a written batch of the sequencer (node/own-log/sequencer.ts): the submissions the
 * resolver refused for good, and the entries left out because their path is full (ERR_PATH_FULL) with
 * the drv or path submissions they came from. Apart from the sequencer so that which submissions are
 * reported refused, and why, is read from the batch's outcomes (node/own-log/sequencer-batch.ts) in one
 * place, while the sequencer keeps when they are reported: once the batch is durable.
 */
import { logger } from '@libp2p/logger';
import { PathFullError } from '../errors.ts';
import type { PreparedBatch } from './sequencer-batch.ts';
import type { Submission } from './submission-queue.ts';

const log = logger('trustix:sequencer');

/** A submission that could not become entries, with the reason. */
export interface Rejection {
  readonly submission: Submission;
  readonly error: Error;
}

/**
 * Reports to `reject`, in order, each submission of a written batch that the log refused: those the
 * resolver refused (not for a retry), then those whose entries are over the path cap (refuseCapped).
 */
export function reportRefusals(
  prepared: PreparedBatch,
  maxPathEntries: number,
  reject: (rejection: Rejection) => void,
): void {
  const { others, outcomes } = prepared;
  others.forEach((submission, i) => {
    const outcome = outcomes[i]!;
    if (!outcome.ok && !outcome.retry) {
      log.error('refused %j: %s', submission, outcome.error.message);
      reject({ submission, error: outcome.error });
    }
  });
  if (prepared.paths.capped.length > 0) refuseCapped(prepared, maxPathEntries, reject);
}

/**
 * Reports the entries left out because their path is full (ERR_PATH_FULL): each entry, and each drv or
 * path submission one of them came from, so that its verdict is not 'published'.
 */
function refuseCapped(
  { paths, others, outcomes }: PreparedBatch,
  maxPathEntries: number,
  reject: (rejection: Rejection) => void,
): void {
  const refuse = (submission: Submission, entry: string) => {
    const error = new PathFullError(entry.split(';')[1] ?? '', maxPathEntries);
    log.error('refused %s: %s', entry, error.message);
    reject({ submission, error });
  };
  const capped = new Set(paths.capped.map((bytes) => bytes.toString('latin1')));
  for (const entry of capped) refuse({ kind: 'entry', entry }, entry);
  others.forEach((submission, i) => {
    const outcome = outcomes[i]!;
    const entry = outcome.ok ? outcome.entries.find((e) => capped.has(e)) : undefined;
    if (entry !== undefined) refuse(submission, entry);
  });
}
