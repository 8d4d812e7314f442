/**
 * Decider specifications (node/vote/decider.ts): the values, and the shorthand that writes them in config
 * files and on the command line.
 *
 * Grammar (config files, command line; words separated by whitespace, case-sensitive):
 *   threshold M/N                      count M, fraction M/N        (1 <= M <= N)
 *   threshold count=C fraction=F       count C >= 1, fraction F in [0, 1], written N/D or as a decimal
 *                                      with at most 6 fractional digits ("3/5", "0.6", "0", "1")
 *   majority [count=C]                 at least C logs (default 2) agree with strictly more than half of
 *                                      the weight: a threshold with fraction 1/2, `strict`
 *   trust NAME                         NAME a followed log's name (a valid key name: no spaces, no '+')
 *   script PATH [timeout=MS]           PATH one word, or a JSON string ("my dir/d.mjs") when it holds
 *                                      whitespace or starts with '"'; MS an integer 1..60000
 * formatDeciderSpec writes the canonical form: "threshold M/N" when count = numerator, otherwise
 * "threshold count=C fraction=N/D"; "majority" (count 2) or "majority count=C" for a strict one; it
 * round-trips through parseDeciderSpec.
 */
import { MalformedError } from '../../protocol/errors.ts';
import { isValidKeyName } from '../../protocol/vkey.ts';

/** An exact fraction 0 <= numerator/denominator <= 1 (denominator >= 1, both safe integers). */
export interface Fraction {
  readonly numerator: number;
  readonly denominator: number;
}

export type DeciderSpec =
  | {
      readonly kind: 'threshold';
      readonly count: number;
      readonly fraction: Fraction;
      /** More than the fraction of the weight, not at least (only with 1/2: `majority`). */
      readonly strict?: boolean;
    }
  | { readonly kind: 'trust'; readonly log: string }
  | { readonly kind: 'script'; readonly module: string; readonly timeoutMs?: number };

const MAX_TIMEOUT_MS = 60_000;

const malformed = (message: string): MalformedError => new MalformedError('decider', message);
const quote = (text: string): string => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
const CANONICAL_INT = /^(?:0|[1-9][0-9]*)$/;

/** A canonical non-negative safe integer, or undefined. */
function safeInt(text: string): number | undefined {
  if (!CANONICAL_INT.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The fraction, or why the text is not one. */
function fractionOrWhy(text: string): Fraction | string {
  const ratio = /^([0-9]+)\/([0-9]+)$/.exec(text);
  if (ratio) {
    const numerator = safeInt(ratio[1]!);
    const denominator = safeInt(ratio[2]!);
    if (numerator === undefined || denominator === undefined)
      return `${quote(text)}: numerator and denominator must be canonical integers up to 2^53-1`;
    if (denominator === 0) return `${quote(text)}: the denominator must be at least 1`;
    if (numerator > denominator) return `${quote(text)} is more than 1`;
    return { numerator, denominator };
  }
  const decimal = /^([01])(?:\.([0-9]{1,6}))?$/.exec(text);
  if (decimal) {
    const digits = decimal[2] ?? '';
    const denominator = 10 ** digits.length;
    const numerator = Number(decimal[1]) * denominator + Number(digits || '0');
    if (numerator > denominator) return `${quote(text)} is more than 1`;
    const d = gcd(numerator, denominator);
    return { numerator: numerator / d, denominator: denominator / d };
  }
  return `${quote(text)} is not a fraction (write N/D, or a decimal from 0 to 1 with at most 6 fractional digits)`;
}

/** Parses a fraction written "3/4" or a decimal "0.75" (at most 6 fractional digits) into an exact Fraction. */
export function parseFraction(text: string): Fraction {
  const f = fractionOrWhy(String(text));
  if (typeof f === 'string') throw new MalformedError('fraction', f);
  return f;
}

const THRESHOLD_FORMS = 'expected "threshold M/N" or "threshold count=C fraction=F"';

function parseThreshold(text: string, words: readonly string[]): DeciderSpec {
  const [first, second] = words;
  if (words.length === 1 && first !== undefined && /^[0-9]+\/[0-9]+$/.test(first)) {
    const f = fractionOrWhy(first);
    if (typeof f === 'string') throw malformed(f);
    if (f.numerator === 0) throw malformed(`${quote(text)}: M must be at least 1 in "threshold M/N"`);
    return checkDeciderSpec({ kind: 'threshold', count: f.numerator, fraction: f });
  }
  if (words.length === 2 && first?.startsWith('count=') && second?.startsWith('fraction=')) {
    const count = safeInt(first.slice('count='.length));
    if (count === undefined || count === 0)
      throw malformed(`${quote(text)}: count must be an integer of at least 1`);
    const f = fractionOrWhy(second.slice('fraction='.length));
    if (typeof f === 'string') throw malformed(f);
    return checkDeciderSpec({ kind: 'threshold', count, fraction: f });
  }
  throw malformed(`${quote(text)}: ${THRESHOLD_FORMS}`);
}

/** `majority [count=C]`: count C (default 2), strictly more than half of the weight. */
function parseMajority(text: string, words: readonly string[]): DeciderSpec {
  const [first] = words;
  let count = 2;
  if (words.length > 1 || (first !== undefined && !first.startsWith('count=')))
    throw malformed(`${quote(text)}: expected "majority" or "majority count=C"`);
  if (first !== undefined) {
    const c = safeInt(first.slice('count='.length));
    if (c === undefined || c === 0) throw malformed(`${quote(text)}: count must be an integer of at least 1`);
    count = c;
  }
  return checkDeciderSpec({ kind: 'threshold', count, fraction: HALF, strict: true });
}

const HALF: Fraction = { numerator: 1, denominator: 2 };

function parseScript(text: string, rest: string): DeciderSpec {
  let module: string;
  let after: string;
  if (rest.startsWith('"')) {
    const m = /^"(?:[^"\\]|\\.)*"/.exec(rest);
    let parsed: unknown;
    try {
      parsed = m ? JSON.parse(m[0]) : undefined;
    } catch {}
    if (m === null || typeof parsed !== 'string') throw malformed(`${quote(text)}: a badly quoted path`);
    module = parsed;
    after = rest.slice(m[0].length);
    if (after !== '' && !/^\s/.test(after)) throw malformed(`${quote(text)}: text after the quoted path`);
  } else {
    module = /^\S*/.exec(rest)![0];
    after = rest.slice(module.length);
  }
  if (module === '') throw malformed(`${quote(text)}: expected "script PATH [timeout=MS]"`);
  const options = words(after);
  const option = options[0];
  if (option === undefined) return checkDeciderSpec({ kind: 'script', module });
  const timeoutMs = option.startsWith('timeout=') ? safeInt(option.slice('timeout='.length)) : undefined;
  if (options.length > 1 || timeoutMs === undefined)
    throw malformed(`${quote(text)}: expected "script PATH [timeout=MS]"`);
  return checkDeciderSpec({ kind: 'script', module, timeoutMs });
}

function words(text: string): string[] {
  const trimmed = text.trim();
  return trimmed === '' ? [] : trimmed.split(/\s+/);
}

/** Parses the shorthand (grammar above); MalformedError('decider') naming the problem otherwise. */
export function parseDeciderSpec(text: string): DeciderSpec {
  if (typeof text !== 'string') throw malformed('a decider is written as text');
  const trimmed = text.trim();
  const m = /^(\S+)\s*([\s\S]*)$/.exec(trimmed);
  if (m === null) throw malformed('empty decider');
  const [, kind, rest] = m as unknown as [string, string, string];
  switch (kind) {
    case 'threshold':
      return parseThreshold(trimmed, words(rest));
    case 'majority':
      return parseMajority(trimmed, words(rest));
    case 'trust': {
      const [log, ...extra] = words(rest);
      if (log === undefined || extra.length > 0) throw malformed(`${quote(trimmed)}: expected "trust NAME"`);
      return checkDeciderSpec({ kind: 'trust', log });
    }
    case 'script':
      return parseScript(trimmed, rest);
    default:
      throw malformed(`unknown decider ${quote(kind)} (expected threshold, majority, trust or script)`);
  }
}

/** Canonical text of a spec (round-trips through parseDeciderSpec), used as `decider` in Decision. */
export function formatDeciderSpec(spec: DeciderSpec): string {
  switch (spec.kind) {
    case 'threshold': {
      const { numerator, denominator } = spec.fraction;
      if (spec.strict === true) return spec.count === 2 ? 'majority' : `majority count=${spec.count}`;
      return spec.count === numerator && numerator >= 1
        ? `threshold ${numerator}/${denominator}`
        : `threshold count=${spec.count} fraction=${numerator}/${denominator}`;
    }
    case 'trust':
      return `trust ${spec.log}`;
    case 'script': {
      const path =
        /\s/.test(spec.module) || spec.module.startsWith('"') ? JSON.stringify(spec.module) : spec.module;
      return spec.timeoutMs === undefined ? `script ${path}` : `script ${path} timeout=${spec.timeoutMs}`;
    }
  }
}

const isSafeInt = (n: unknown, min: number, max: number): n is number =>
  typeof n === 'number' && Number.isSafeInteger(n) && n >= min && n <= max;

/** Checks a spec built from a config object; throws MalformedError('decider'). Returns the spec. */
export function checkDeciderSpec(spec: DeciderSpec): DeciderSpec {
  if (spec === null || typeof spec !== 'object') throw malformed('a decider is an object with a kind');
  const s = spec as { readonly [key: string]: unknown };
  switch (s['kind']) {
    case 'threshold': {
      if (!isSafeInt(s['count'], 1, Number.MAX_SAFE_INTEGER))
        throw malformed(`threshold count must be an integer of at least 1, not ${String(s['count'])}`);
      const f = s['fraction'] as { readonly [key: string]: unknown } | null | undefined;
      const den = f?.['denominator'];
      const num = f?.['numerator'];
      if (!isSafeInt(den, 1, Number.MAX_SAFE_INTEGER) || !isSafeInt(num, 0, den))
        throw malformed('threshold fraction must be numerator/denominator integers with 0 <= n <= d, d >= 1');
      if (s['strict'] !== undefined && s['strict'] !== false && !(s['strict'] === true && 2 * num === den))
        throw malformed('a strict threshold (majority) must have the fraction 1/2');
      return spec;
    }
    case 'trust':
      if (typeof s['log'] !== 'string' || !isValidKeyName(s['log']))
        throw malformed(
          `trust needs a log name (no spaces, '+' or controls), not ${quote(String(s['log']))}`,
        );
      return spec;
    case 'script':
      if (typeof s['module'] !== 'string' || s['module'] === '' || s['module'].includes('\0'))
        throw malformed('script needs a module path');
      if (s['timeoutMs'] !== undefined && !isSafeInt(s['timeoutMs'], 1, MAX_TIMEOUT_MS))
        throw malformed(
          `script timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}, not ${String(s['timeoutMs'])}`,
        );
      return spec;
    default:
      throw malformed(
        `unknown decider kind ${quote(String(s['kind']))} (expected threshold, trust or script)`,
      );
  }
}

/**
 * Why a chain can never decide anything with the followed logs named `logs` (undefined when some
 * decider can): every threshold needs more agreeing logs than are followed, every `trust` names a log
 * not followed, and there is no script.
 */
export function unsatisfiableVote(
  specs: readonly DeciderSpec[],
  logs: readonly string[],
): string | undefined {
  let fewest = Number.POSITIVE_INFINITY;
  for (const spec of specs) {
    if (spec.kind === 'script') return undefined;
    if (spec.kind === 'trust' && logs.includes(spec.log)) return undefined;
    if (spec.kind === 'threshold') {
      if (spec.count <= logs.length) return undefined;
      fewest = Math.min(fewest, spec.count);
    }
  }
  const followed = `${logs.length} log${logs.length === 1 ? ' is' : 's are'} followed`;
  return fewest === Number.POSITIVE_INFINITY
    ? `no decider of the vote can decide: ${followed} and none is trusted by name`
    : `the vote needs at least ${fewest} agreeing logs and ${followed}: nothing will be decided`;
}

/** What one configured (followed) log says about one store path. */
export interface LogVote {
  /** The log's name among the followed logs (unique). */
  readonly log: string;
  readonly logId: string;
  /** Vote weight: positive, at most 1,000,000, at most 6 fractional decimal digits (e.g. 1, 0.5, 2.25). */
  readonly weight: number;
  /** The distinct fingerprints the log holds for the path, oldest first; empty when the log is silent. */
  readonly fingerprints: readonly string[];
  /** The log is proven forked (its key signed two histories): it abstains. */
  readonly forked: boolean;
  /**
   * The log holds more than MAX_PATH_ENTRIES (64) entries for the path (node/store/layout.ts): it
   * abstains, and `fingerprints` is empty (a script sees it as silent).
   */
  readonly overfull?: boolean;
}

export type DeciderOutcome = { fingerprint: string } | { reason: string };

/** One decider: returns the decided fingerprint, or a reason why not. Never throws for a vote it cannot decide. */
export interface Decider {
  readonly spec: DeciderSpec;
  decide(votes: readonly LogVote[]): DeciderOutcome | Promise<DeciderOutcome>;
  /** Frees resources (the script worker). */
  close?(): Promise<void>;
}
