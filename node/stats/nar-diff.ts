/**
 * File-level comparison of two NARs, for `trustix challenge --diff` (modelled on `guix challenge
 * --diff=simple`): when two caches serve different NARs for one store path, say which files differ.
 *
 *   differing content: bin/hello (mercury 23 bytes sha256:5e0a…, saturn 23 bytes sha256:77c1…)
 *   differing executable bit: bin/tool (mercury not executable, saturn executable)
 *   differing symlink target: lib/libfoo.so (mercury "libfoo.so.1", saturn "libfoo.so.2")
 *   differing type: share/doc (mercury regular file, saturn directory)
 *   only in saturn: share/extra (regular file, 12 bytes)
 *
 * Both NARs are parsed as streams (protocol/nar-reader.ts) and merged in NAR order, so memory holds a
 * few events and the differences, never file contents. Like `diff -r`, the contents of a directory
 * that is only on one side, or that is something else on the other side, are not listed one by one.
 *
 * Decompressing a narinfo's `Compression:` is node/upstream/decompress.ts's; diffoscope is node/stats/diffoscope.ts's.
 */
import { compareNarPaths, type NarEvent, type NarReaderLimits, readNar } from '../../protocol/nar-reader.ts';

export type NarEntrySummary =
  | { readonly type: 'regular'; readonly executable: boolean; readonly size: number; readonly sha256: string }
  | { readonly type: 'symlink'; readonly target: string }
  | { readonly type: 'directory' };

export interface FileContent {
  readonly size: number;
  /** Lowercase hex. */
  readonly sha256: string;
}

export type NarDifference =
  | { readonly path: string; readonly kind: 'only-in-a'; readonly a: NarEntrySummary }
  | { readonly path: string; readonly kind: 'only-in-b'; readonly b: NarEntrySummary }
  | { readonly path: string; readonly kind: 'content'; readonly a: FileContent; readonly b: FileContent }
  | {
      readonly path: string;
      readonly kind: 'type';
      readonly a: NarEvent['type'];
      readonly b: NarEvent['type'];
    }
  | { readonly path: string; readonly kind: 'executable'; readonly a: boolean; readonly b: boolean }
  | { readonly path: string; readonly kind: 'symlink-target'; readonly a: string; readonly b: string };

export interface NarDiff {
  readonly identical: boolean;
  /** In NAR order (compareNarPaths): a directory before its contents, names by bytes. */
  readonly differences: readonly NarDifference[];
  /** More differences than maxDifferences: the comparison stopped there. */
  readonly truncated: boolean;
}

export interface NarDiffLimits extends NarReaderLimits {
  /** Most differences reported. Default 10,000. */
  readonly maxDifferences?: number;
}

/** The differences between the NARs `a` and `b`. A malformed NAR throws (protocol/nar-reader.ts). */
export async function diffNars(
  a: AsyncIterable<Uint8Array>,
  b: AsyncIterable<Uint8Array>,
  limits: NarDiffLimits = {},
): Promise<NarDiff> {
  const max = limits.maxDifferences ?? 10_000;
  const ra = readNar(a, limits);
  const rb = readNar(b, limits);
  const differences: NarDifference[] = [];
  let truncated = false;
  // Paths whose descendants on that side are not listed (see the module comment).
  let hideA: string | undefined;
  let hideB: string | undefined;
  try {
    let [x, y] = await Promise.all([ra.next(), rb.next()]);
    while (!(x.done && y.done) && !truncated) {
      const ea = x.done ? undefined : x.value;
      const eb = y.done ? undefined : y.value;
      if (ea !== undefined && isUnder(ea.path, hideA)) x = await ra.next();
      else if (eb !== undefined && isUnder(eb.path, hideB)) y = await rb.next();
      else {
        const order = ea === undefined ? 1 : eb === undefined ? -1 : compareNarPaths(ea.path, eb.path);
        let found: NarDifference[];
        if (order < 0) {
          found = [{ path: ea!.path, kind: 'only-in-a', a: summary(ea!) }];
          hideA = ea!.path;
          x = await ra.next();
        } else if (order > 0) {
          found = [{ path: eb!.path, kind: 'only-in-b', b: summary(eb!) }];
          hideB = eb!.path;
          y = await rb.next();
        } else {
          found = compareNodes(ea!, eb!);
          if (ea!.type !== eb!.type) hideA = hideB = ea!.path;
          [x, y] = await Promise.all([ra.next(), rb.next()]);
        }
        for (const d of found) {
          if (differences.length === max) truncated = true;
          else differences.push(d);
        }
      }
    }
  } finally {
    // Closes the inputs (and any decompressor behind them) when stopping early or on an error.
    await Promise.allSettled([ra.return(undefined), rb.return(undefined)]);
  }
  return { identical: differences.length === 0, differences, truncated };
}

function isUnder(path: string, ancestor: string | undefined): boolean {
  if (ancestor === undefined) return false;
  return ancestor === '' ? path !== '' : path.startsWith(`${ancestor}/`);
}

function summary(e: NarEvent): NarEntrySummary {
  if (e.type === 'regular')
    return { type: e.type, executable: e.executable, size: e.size, sha256: hex(e.sha256) };
  return e.type === 'symlink' ? { type: e.type, target: e.target } : { type: e.type };
}

function compareNodes(x: NarEvent, y: NarEvent): NarDifference[] {
  const path = x.path;
  if (x.type !== y.type) return [{ path, kind: 'type', a: x.type, b: y.type }];
  const out: NarDifference[] = [];
  if (x.type === 'regular' && y.type === 'regular') {
    if (x.size !== y.size || !Buffer.from(x.sha256).equals(y.sha256)) {
      const content = (e: typeof x) => ({ size: e.size, sha256: hex(e.sha256) });
      out.push({ path, kind: 'content', a: content(x), b: content(y) });
    }
    if (x.executable !== y.executable)
      out.push({ path, kind: 'executable', a: x.executable, b: y.executable });
  }
  if (x.type === 'symlink' && y.type === 'symlink' && x.target !== y.target)
    out.push({ path, kind: 'symlink-target', a: x.target, b: y.target });
  return out;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** One line per difference, like `guix challenge --diff=simple`; `nameA`/`nameB` name the sources. */
export function formatNarDiff(diff: NarDiff, nameA: string, nameB: string): string {
  if (diff.identical) return `no differences between ${nameA} and ${nameB}\n`;
  const lines = diff.differences.map((d) => line(d, nameA, nameB));
  if (diff.truncated) lines.push(`... and more differences (stopped after ${diff.differences.length})`);
  return lines.map((l) => `${l}\n`).join('');
}

function line(d: NarDifference, nameA: string, nameB: string): string {
  const p = d.path === '' ? '.' : d.path;
  switch (d.kind) {
    case 'only-in-a':
      return `only in ${nameA}: ${p} (${describe(d.a)})`;
    case 'only-in-b':
      return `only in ${nameB}: ${p} (${describe(d.b)})`;
    case 'content': {
      const c = (f: FileContent) => `${f.size} bytes sha256:${f.sha256}`;
      return `differing content: ${p} (${nameA} ${c(d.a)}, ${nameB} ${c(d.b)})`;
    }
    case 'type':
      return `differing type: ${p} (${nameA} ${TYPE_NAMES[d.a]}, ${nameB} ${TYPE_NAMES[d.b]})`;
    case 'executable': {
      const x = (e: boolean) => (e ? 'executable' : 'not executable');
      return `differing executable bit: ${p} (${nameA} ${x(d.a)}, ${nameB} ${x(d.b)})`;
    }
    case 'symlink-target':
      return `differing symlink target: ${p} (${nameA} ${JSON.stringify(d.a)}, ${nameB} ${JSON.stringify(d.b)})`;
  }
}

const TYPE_NAMES = { regular: 'regular file', symlink: 'symlink', directory: 'directory' } as const;

function describe(s: NarEntrySummary): string {
  if (s.type === 'regular') return `${s.executable ? 'executable' : 'regular'} file, ${s.size} bytes`;
  return s.type === 'symlink' ? `symlink to ${JSON.stringify(s.target)}` : 'directory';
}
