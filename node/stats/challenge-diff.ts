/**
 * `trustix challenge --diff`: for a path the logs disagree on, fetch the two NARs behind two differing
 * values from the upstream caches (each found by the exact fingerprint a log holds, as the substituter
 * finds them) and compare them file by file (node/stats/nar-diff.ts). Bounded: a time limit for the whole
 * comparison, and a cap on the decompressed NAR size.
 */
import { TrustixError } from '../../protocol/errors.ts';
import type { NarReaderLimits } from '../../protocol/nar-reader.ts';
import { DeadlineExceededError } from '../errors.ts';
import { decompress } from '../upstream/decompress.ts';
import type { UpstreamCaches } from '../upstream/upstream-caches.ts';
import { diffNars, formatNarDiff, type NarDiff } from './nar-diff.ts';
import type { ReproViews } from './repro-views.ts';

/** Largest decompressed NAR compared. */
export const MAX_DIFF_NAR_BYTES = 16 * 1024 * 1024 * 1024;

export interface ChallengeDiff {
  readonly a: { readonly log: string; readonly fingerprint: string; readonly upstream: string };
  readonly b: { readonly log: string; readonly fingerprint: string; readonly upstream: string };
  readonly diff: NarDiff;
  /** formatNarDiff of `diff`, one line per difference. */
  readonly text: string;
}

/** A path whose NARs cannot be compared: nothing differs, or an upstream lacks one of them. */
export class NothingToDiffError extends TrustixError {
  constructor(message: string) {
    super('ERR_NOTHING_TO_DIFF', message);
  }
}

export async function challengeDiff(
  views: ReproViews,
  upstreams: UpstreamCaches,
  hashPart: string,
  options: { timeoutMs?: number; limits?: NarReaderLimits } = {},
): Promise<ChallengeDiff> {
  const report = await views.path(hashPart);
  const values = report.logs.flatMap((l) =>
    l.fingerprints.map((fingerprint) => ({ log: l.log, fingerprint })),
  );
  const first = values[0];
  const other = values.find((v) => v.fingerprint !== first?.fingerprint);
  if (first === undefined || other === undefined)
    throw new NothingToDiffError(`the followed logs do not disagree about ${hashPart}`);
  const [na, nb] = await Promise.all([
    upstreams.find(hashPart, first.fingerprint),
    upstreams.find(hashPart, other.fingerprint),
  ]);
  if (na === undefined || nb === undefined) {
    const missing = na === undefined ? first.log : other.log;
    throw new NothingToDiffError(`no upstream cache has the NAR ${missing} published for ${hashPart}`);
  }
  const [sa, sb] = await Promise.all([
    upstreams.openNar(na.upstream, na.narinfo),
    upstreams.openNar(nb.upstream, nb.narinfo),
  ]);
  if (sa === undefined || sb === undefined) {
    sa?.stream.destroy();
    sb?.stream.destroy();
    throw new NothingToDiffError(`an upstream cache lists but does not serve a NAR of ${hashPart}`);
  }
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 300_000);
  const abort = () => {
    sa.stream.destroy(new DeadlineExceededError('the comparison took too long'));
    sb.stream.destroy(new DeadlineExceededError('the comparison took too long'));
  };
  timeout.addEventListener('abort', abort, { once: true });
  try {
    const diff = await diffNars(
      // Each NAR is capped at the size its log published (the fingerprint's NarSize).
      decompress(sa.stream, na.narinfo.compression, { maxBytes: na.narinfo.narSize }),
      decompress(sb.stream, nb.narinfo.compression, { maxBytes: nb.narinfo.narSize }),
      { maxSize: MAX_DIFF_NAR_BYTES, ...options.limits },
    );
    return {
      a: { ...first, upstream: na.upstream },
      b: { ...other, upstream: nb.upstream },
      diff,
      text: formatNarDiff(diff, first.log, other.log),
    };
  } finally {
    timeout.removeEventListener('abort', abort);
    sa.stream.destroy();
    sb.stream.destroy();
  }
}
