/**
 * `trustix challenge`, modelled on `guix challenge`: for store paths, what each followed log says
 * (its NAR hash) and a verdict per path (node/stats/repro-record.ts): reproducible, mismatch or inconclusive.
 *
 * - Named paths (with `closure`: and everything they refer to, as the logs record references) are
 *   reported one by one, read live from the logs.
 * - With no paths, the whole of what the followed logs hold is challenged from the statistics: the
 *   counts come from its counters and the mismatching paths from its index, a page at a time, each
 *   reported live (like guix challenge, matching paths are counted, not listed).
 */
import { parseEntry } from '../../protocol/entry.ts';
import { MalformedError, TooLargeError } from '../../protocol/errors.ts';
import { parseHashPart, parseStorePath } from '../../protocol/store-path.ts';
import type { PathReport, ReproViews } from './repro-views.ts';

/** Most paths one challenge names or reaches through references. */
export const MAX_CHALLENGE_PATHS = 100_000;

export interface ChallengeSummary {
  readonly analysed: number;
  readonly reproducible: number;
  readonly mismatch: number;
  readonly inconclusive: number;
}

export interface ChallengeResult {
  readonly items: readonly PathReport[];
  readonly summary: ChallengeSummary;
  /** For a whole-log challenge: the cursor of the next page of mismatches, null at the end. */
  readonly next: string | null;
}

/** Reports for named paths (store paths or hash parts), with their closure when asked. */
export async function challengePaths(
  views: ReproViews,
  paths: readonly string[],
  options: { closure?: boolean; storeDir?: string } = {},
): Promise<ChallengeResult> {
  const storeDir = options.storeDir ?? '/nix/store';
  const queue: { hashPart: string; storePath?: string }[] = paths.map((p) =>
    p.startsWith('/')
      ? { hashPart: parseStorePath(p, storeDir).hashPart, storePath: p }
      : { hashPart: parseHashPart(p) },
  );
  if (queue.length > MAX_CHALLENGE_PATHS)
    throw new TooLargeError('challenge', queue.length, MAX_CHALLENGE_PATHS);
  const seen = new Set(queue.map((q) => q.hashPart));
  const items: PathReport[] = [];
  for (let i = 0; i < queue.length; i++) {
    const { hashPart, storePath } = queue[i]!;
    const report = await views.path(hashPart, storePath);
    items.push(report);
    if (!options.closure) continue;
    for (const l of report.logs)
      for (const fingerprint of l.fingerprints)
        for (const ref of parseEntry(fingerprint, storeDir).references) {
          const hash = parseStorePath(ref, storeDir).hashPart;
          if (seen.has(hash)) continue;
          if (seen.size >= MAX_CHALLENGE_PATHS)
            throw new TooLargeError('challenge closure', seen.size + 1, MAX_CHALLENGE_PATHS);
          seen.add(hash);
          queue.push({ hashPart: hash, storePath: ref });
        }
  }
  return { items, summary: summarise(items), next: null };
}

/** One page of the whole-log challenge: the counters, and reports of mismatching paths after `after`. */
export async function challengeAll(
  views: ReproViews,
  options: { after?: string; limit?: number } = {},
): Promise<ChallengeResult> {
  const { paths } = views.summary();
  const page = await views.mismatches({
    limit: options.limit ?? 100,
    ...(options.after !== undefined ? { after: options.after } : {}),
  });
  const items = [];
  for (const m of page.items) items.push(await views.path(m.hashPart, m.storePath));
  return {
    items,
    summary: {
      analysed: paths.analysed,
      reproducible: paths.reproducible,
      mismatch: paths.mismatch,
      inconclusive: paths.inconclusive,
    },
    next: page.next,
  };
}

function summarise(items: readonly PathReport[]): ChallengeSummary {
  const count = (v: PathReport['verdict']) => items.filter((i) => i.verdict === v).length;
  return {
    analysed: items.length,
    reproducible: count('reproducible'),
    mismatch: count('mismatch'),
    inconclusive: count('inconclusive'),
  };
}

/** Checks a control request's path list. */
export function checkPathList(value: unknown): string[] {
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'string' || p.length === 0 || p.length > 4096))
    throw new MalformedError('challenge request', 'paths must be a list of store paths or hash parts');
  return value as string[];
}
