/**
 * What became of one submit request, for `trustix submit`: each submission's verdict once the sequencer
 * has settled the request's record, within a time bound.
 *
 *   published   in the log, under a durable signed checkpoint (new, or there already)
 *   refused     the node will never publish it (not valid in the Nix store, NAR hash mismatch, ...):
 *               the error's code and message
 *   queued      still waiting when the bound ran out, or held back for a retry (Nix busy or missing)
 */
import type { QueuedRecord, Submission } from './queued-record.ts';
import type { Sequencer } from './sequencer.ts';
import type { Rejection } from './sequencer-refusals.ts';

export type SubmissionVerdict =
  | { readonly status: 'published' | 'queued' }
  | { readonly status: 'refused'; readonly error: { readonly code: string; readonly message: string } };

/** The part of the sequencer this needs. */
export type SequencerOutcomes = Pick<Sequencer, 'addEventListener' | 'removeEventListener' | 'whenSettled'>;

/** Queues with `enqueue`, then waits up to `timeoutMs` for the verdict of each of `submissions`. */
export async function submissionVerdicts(
  sequencer: SequencerOutcomes,
  submissions: readonly Submission[],
  enqueue: () => Promise<QueuedRecord>,
  timeoutMs: number,
): Promise<SubmissionVerdict[]> {
  const refused = new Map<string, SubmissionVerdict>();
  const wanted = new Set(submissions.map(keyOf));
  // Listening before the record exists: its batch may be refused as soon as it is queued.
  const onRejected = (e: CustomEvent<Rejection>) => {
    const { submission, error } = e.detail;
    const key = keyOf(submission);
    if (!wanted.has(key)) return;
    const code = (error as { code?: unknown }).code;
    refused.set(key, {
      status: 'refused',
      error: { code: typeof code === 'string' ? code : error.name, message: error.message },
    });
  };
  sequencer.addEventListener('rejected', onRejected);
  let timer: NodeJS.Timeout | undefined;
  try {
    const record = await enqueue();
    const settled = await Promise.race([
      sequencer.whenSettled(record.seq).then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    return submissions.map((s) => refused.get(keyOf(s)) ?? { status: settled ? 'published' : 'queued' });
  } finally {
    clearTimeout(timer);
    sequencer.removeEventListener('rejected', onRejected);
  }
}

function keyOf(s: Submission): string {
  return s.kind === 'drv' ? `d ${s.drvPath}` : s.kind === 'path' ? `p ${s.path}` : `e ${s.entry}`;
}
