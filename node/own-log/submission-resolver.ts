/**
 * Turns one queued submission into the log entries it stands for:
 *
 *   drv   → Nix's outputs of the derivation → one entry per output (as for `path`)
 *   path  → our own NAR serialization of the store path on disk (nar-fs.ts + nar.ts) gives the
 *           NAR hash and size; the references are Nix's record of them
 *   entry → the fingerprint, parsed strictly, as is
 *
 * Every path entry is cross-checked: our NAR hash and size must equal what Nix registered for the
 * path, or the path is refused with NarMismatchError (the store on disk was altered after Nix
 * registered it, or one of the two serializers is wrong: either way nothing gets signed).
 *
 * Path and derivation submissions need Nix: references are not recoverable from the bytes alone
 * (Nix finds them by scanning for hash parts of the build's inputs), and the outputs of a
 * derivation and the validity of a path are facts of Nix's database. Without `nix-store` they are
 * refused with NixUnavailableError; entry submissions never touch Nix.
 *
 * Work is bounded: at most `concurrency` (default 2) store-path jobs run at once across all
 * resolve() calls, each either one `nix-store` call or hashing one path, so a burst of
 * submissions neither forks a process per submission nor reads many large paths at once. Hashing
 * stops as soon as our NAR grows past the size Nix recorded.
 */
import { createHash } from 'node:crypto';
import { logger } from '@libp2p/logger';
import { type Entry, formatEntry, parseEntry } from '../../protocol/entry.ts';
import { MalformedError } from '../../protocol/errors.ts';
import { narChunks } from '../../protocol/nar.ts';
import { formatSha256 } from '../../protocol/nix-hash.ts';
import { DEFAULT_STORE_DIR, parseStorePath } from '../../protocol/store-path.ts';
import { NarMismatchError, NoOutputsError, StorePathNotValidError } from '../errors.ts';
import { narTreeOf } from './nar-fs.ts';
import type { NixQueries, PathInfo } from './nix-store.ts';
import type { Submission } from './submission-queue.ts';

const log = logger('trustix:submission-resolver');

/** A log entry and its fingerprint text (the exact bytes to append, UTF-8). */
export interface ResolvedEntry {
  readonly entry: Entry;
  readonly fingerprint: string;
}

/** The outcome for one submission of a batch. */
export type Resolution =
  | { readonly ok: true; readonly entries: ResolvedEntry[] }
  | { readonly ok: false; readonly error: Error };

export interface SubmissionResolverInit {
  /** Store directory every path must be in. Default '/nix/store'. */
  readonly storeDir?: string;
  /** Store-path jobs (nix-store calls, path hashing) running at once. Default 2 (one per core here). */
  readonly concurrency?: number;
}

export interface SubmissionResolverComponents {
  readonly nix: NixQueries;
}

export class SubmissionResolver {
  private readonly nix: NixQueries;
  private readonly storeDir: string;
  private readonly slots: Slots;

  constructor(components: SubmissionResolverComponents, init: SubmissionResolverInit = {}) {
    this.nix = components.nix;
    this.storeDir = init.storeDir ?? DEFAULT_STORE_DIR;
    const concurrency = init.concurrency ?? 2;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1)
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    this.slots = new Slots(concurrency);
  }

  /**
   * The entries of one submission (a derivation's in output path order). Throws MalformedError,
   * StorePathNotValidError, NoOutputsError, NarMismatchError, NixUnavailableError, NixCommandError.
   */
  async resolve(submission: Submission, signal?: AbortSignal): Promise<ResolvedEntry[]> {
    const [resolution] = await this.resolveAll([submission], signal);
    if (!resolution!.ok) throw resolution!.error;
    return resolution!.entries;
  }

  /**
   * Each submission's entries or the error that refuses it, in the order given; one bad submission
   * never fails the others. All store paths of the batch go to Nix in one call (a `nix-store` start
   * costs far more than a small path's hashing), and a path shared by several submissions is
   * hashed once.
   */
  async resolveAll(submissions: readonly Submission[], signal?: AbortSignal): Promise<Resolution[]> {
    const plans = await Promise.all(
      submissions.map((s) => this.plan(s, signal).catch((e: unknown) => e as Error)),
    );
    const paths = [...new Set(plans.flatMap((p) => (Array.isArray(p) ? p : [])))];
    const infos = await this.pathInfos(paths, signal);
    const entries = new Map<string, Promise<ResolvedEntry>>();
    for (const path of paths) {
      const info = infos.get(path)!;
      const entry =
        info instanceof Error ? Promise.reject(info) : this.slots.run(() => this.entryOf(info, signal));
      entry.catch(() => {}); // read below; keeps an unread failure from counting as unhandled
      entries.set(path, entry);
    }
    return Promise.all(
      plans.map(async (plan): Promise<Resolution> => {
        if (plan instanceof Error) return { ok: false, error: plan };
        if (!Array.isArray(plan)) return { ok: true, entries: [plan] };
        try {
          return { ok: true, entries: await Promise.all(plan.map((p) => entries.get(p)!)) };
        } catch (error) {
          return { ok: false, error: error as Error };
        }
      }),
    );
  }

  /** The store paths a submission stands for, or for an entry submission its entry. */
  private async plan(submission: Submission, signal?: AbortSignal): Promise<string[] | ResolvedEntry> {
    switch (submission.kind) {
      case 'entry':
        // Canonical parsing means the text is already the one spelling of this entry.
        return { entry: parseEntry(submission.entry, this.storeDir), fingerprint: submission.entry };
      case 'path':
        return [parseStorePath(submission.path, this.storeDir).path];
      case 'drv': {
        const drv = parseStorePath(submission.drvPath, this.storeDir);
        if (!drv.name.endsWith('.drv'))
          throw new MalformedError('derivation path', `${drv.path} is not a .drv`);
        const outputs = await this.slots.run(() => this.nix.outputsOf(drv.path, signal));
        if (outputs.length === 0) throw new NoOutputsError(drv.path);
        return outputs;
      }
      default:
        throw new MalformedError(
          'submission',
          `unknown kind ${JSON.stringify((submission as { kind: unknown }).kind)}`,
        );
    }
  }

  /**
   * Nix's record of each path, or the error for it. Nix stops at the first path it does not know:
   * that path gets its error and the rest are asked again (one more call per unknown path, rare).
   */
  private async pathInfos(
    paths: readonly string[],
    signal?: AbortSignal,
  ): Promise<Map<string, PathInfo | Error>> {
    const out = new Map<string, PathInfo | Error>();
    let remaining = paths;
    while (remaining.length > 0) {
      const asked = remaining;
      try {
        const infos = await this.slots.run(() => this.nix.pathInfo(asked, signal));
        if (infos.length !== asked.length || infos.some((info, i) => info.path !== asked[i]))
          throw new TypeError('NixQueries.pathInfo answered for other paths than asked');
        for (const info of infos) out.set(info.path, info);
        break;
      } catch (err) {
        if (err instanceof StorePathNotValidError && asked.includes(err.path)) {
          out.set(err.path, err);
          remaining = asked.filter((p) => p !== err.path);
        } else {
          for (const p of asked) out.set(p, err as Error);
          break;
        }
      }
    }
    return out;
  }

  private async entryOf(info: PathInfo, signal?: AbortSignal): Promise<ResolvedEntry> {
    signal?.throwIfAborted();
    const started = performance.now();
    const ours = await ownNar(info.path, info.narSize, signal);
    if (!Buffer.from(ours.hash).equals(info.narHash))
      throw new NarMismatchError(
        info.path,
        `our NAR hash ${formatSha256(ours.hash)}, Nix's ${formatSha256(info.narHash)}`,
      );
    if (info.narSize !== 0 && ours.size !== info.narSize)
      throw new NarMismatchError(info.path, `our NAR size ${ours.size}, Nix's ${info.narSize}`);
    const entry: Entry = {
      storePath: info.path,
      narHash: ours.hash,
      narSize: ours.size,
      references: info.references,
    };
    const fingerprint = formatEntry(entry);
    log('%s: %d NAR bytes in %d ms', info.path, ours.size, Math.round(performance.now() - started));
    return { entry, fingerprint };
  }
}

/**
 * SHA-256 and size of the NAR of `path` on disk, by our serializer. Stops early once the NAR is
 * larger than `limit` (Nix's recorded size; 0 = unknown, no limit).
 */
async function ownNar(
  path: string,
  limit: number,
  signal?: AbortSignal,
): Promise<{ hash: Uint8Array; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of narChunks(await narTreeOf(path))) {
      size += chunk.length;
      if (limit !== 0 && size > limit)
        throw new NarMismatchError(path, `our NAR is larger than Nix's ${limit} bytes`);
      h.update(chunk);
      signal?.throwIfAborted();
    }
  } catch (err) {
    // Registered but gone: deleted behind Nix's back, or collected while we read it.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new StorePathNotValidError(path, 'registered by Nix but missing on disk', { cause: err });
    throw err;
  }
  return { hash: new Uint8Array(h.digest()), size };
}

/** A counting semaphore: at most `limit` jobs at once, the rest wait in order. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.free = limit;
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await job();
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = this.waiting.shift();
      if (next === undefined) this.free++;
      else next();
    }
  }
}
