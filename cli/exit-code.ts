/**
 * The CLI's exit codes (docs/CLI.md), and the one place errors map onto them. The error classes of
 * node/ and protocol/ load only when a run fails: a client command that succeeds never loads protocol/.
 */

export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  /** Verification failed, or the vote reached no consensus. */
  verification: 3,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Thrown by commands for bad arguments that yargs could not catch (exit 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The vote decided nothing for what was asked (exit 3), after the answer was printed. */
export class NoConsensusError extends Error {
  override readonly name = 'NoConsensusError';
}

/** Builders disagree about a path (`challenge`, exit 3), after the report was printed. */
export class MismatchFoundError extends Error {
  override readonly name = 'MismatchFoundError';
}

/** The node refused some of the submitted paths (`submit`, exit 3), after the verdicts were printed. */
export class SubmissionRefusedError extends Error {
  override readonly name = 'SubmissionRefusedError';
}

/** The request needs a vote, and the node is a bootstrap node, which has none (exit 2). */
const NO_VOTE = 'ERR_NO_VOTE';

export async function exitCodeFor(err: unknown): Promise<ExitCode> {
  // The CLI's own errors first: an undecided path (exit 3) is an ordinary answer of `decide`.
  if (err instanceof SubmissionRefusedError) return ExitCode.verification;
  if (err instanceof UsageError) return ExitCode.usage;
  if (err instanceof NoConsensusError || err instanceof MismatchFoundError) return ExitCode.verification;
  const [{ ConfigError, SubmitError }, { MalformedError, VerificationError }] = await Promise.all([
    import('../node/client.ts'),
    import('../protocol/index.ts'),
  ]);
  if (err instanceof SubmitError && err.code === NO_VOTE) return ExitCode.usage;
  // A config file that cannot be used is fixed like a bad flag.
  if (err instanceof ConfigError) return ExitCode.usage;
  if (err instanceof VerificationError) return ExitCode.verification;
  // A malformed argument (a key, a path) is the user's input: a usage problem.
  if (err instanceof MalformedError) return ExitCode.usage;
  // The node refused an argument as malformed: the same mistake, found on the other side of the socket.
  if (err instanceof SubmitError && (err.code === 'ERR_MALFORMED' || err.code === 'ERR_TOO_LARGE'))
    return ExitCode.usage;
  return ExitCode.error;
}
