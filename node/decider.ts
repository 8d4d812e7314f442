/**
 * The vote (DESIGN.md §6): which fingerprint to believe for a store path, given what each followed log
 * says about it. Pure logic: the caller gathers one LogVote per followed log (silent ones included).
 *
 * A log votes for its fingerprint. It abstains when it is proven forked, or when it holds two or more
 * distinct fingerprints for the path ("contradicting"); abstaining logs never vote for anything.
 * Deciders are chained in order; the first that decides wins:
 * - `threshold` (count M, fraction F): a value qualifies when at least M non-abstaining logs vote for it
 *   and their weight w satisfies w >= F * W, where W is the weight of ALL configured logs (silent and
 *   abstaining ones count against, never in favour). Computed exactly: weights are scaled to integer
 *   millionths and compared as integers. Exactly one qualifying value decides; two or more are a tie,
 *   and ties decide nothing.
 * - `trust NAME`: what the named log says (nothing when it is not followed, silent, forked or contradicting).
 * - `script PATH`: a user module's `decide(votes)`, run in a worker thread (node/script-decider.ts).
 *
 * Shorthand grammar (config files, command line; words separated by whitespace, case-sensitive):
 *   threshold M/N                      count M, fraction M/N        (1 <= M <= N)
 *   threshold count=C fraction=F       count C >= 1, fraction F in [0, 1], written N/D or as a decimal
 *                                      with at most 6 fractional digits ("3/5", "0.6", "0", "1")
 *   trust NAME                         NAME a followed log's name (a valid key name: no spaces, no '+')
 *   script PATH [timeout=MS]           PATH one word, or a JSON string ("my dir/d.mjs") when it holds
 *                                      whitespace or starts with '"'; MS an integer 1..60000
 * formatDeciderSpec writes the canonical form: "threshold M/N" when count = numerator, otherwise
 * "threshold count=C fraction=N/D"; it round-trips through parseDeciderSpec.
 */
import { MalformedError, OutOfRangeError } from '../protocol/errors.ts';
import { isValidKeyName } from '../protocol/vkey.ts';
import { ScriptDecider } from './script-decider.ts';

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
}

/** An exact fraction 0 <= numerator/denominator <= 1 (denominator >= 1, both safe integers). */
export interface Fraction {
  readonly numerator: number;
  readonly denominator: number;
}

export type DeciderSpec =
  | { readonly kind: 'threshold'; readonly count: number; readonly fraction: Fraction }
  | { readonly kind: 'trust'; readonly log: string }
  | { readonly kind: 'script'; readonly module: string; readonly timeoutMs?: number };

export interface Mismatch {
  readonly log: string;
  readonly fingerprint: string;
}
export interface Abstention {
  readonly log: string;
  readonly reason: 'forked' | 'contradicting';
  readonly fingerprints: readonly string[];
}
/** One value voted for, with its voters (non-abstaining logs only), heaviest first. */
export interface Tally {
  readonly fingerprint: string;
  readonly logs: readonly string[];
  readonly weight: number;
}

export interface Decision {
  /** The decided fingerprint, or undefined when no decider in the chain decided. */
  readonly fingerprint: string | undefined;
  /** formatDeciderSpec of the decider that decided (undefined when none did). */
  readonly decider: string | undefined;
  /** Logs voting for the decided value (empty when undecided). */
  readonly agreeing: readonly string[];
  /** Non-abstaining logs voting for another value (when undecided: every non-abstaining voting log). */
  readonly mismatches: readonly Mismatch[];
  /** Logs with no entry for the path (a forked log is an abstention, never a miss). */
  readonly misses: readonly string[];
  /** Forked logs and logs holding two or more different fingerprints for the path. */
  readonly abstentions: readonly Abstention[];
  readonly tally: readonly Tally[];
  /** For each decider of the chain that was tried and did not decide, in order: `${formatDeciderSpec}: ${why}`. */
  readonly reasons: readonly string[];
}

export type DeciderOutcome = { fingerprint: string } | { reason: string };

/** One decider: returns the decided fingerprint, or a reason why not. Never throws for a vote it cannot decide. */
export interface Decider {
  readonly spec: DeciderSpec;
  decide(votes: readonly LogVote[]): DeciderOutcome | Promise<DeciderOutcome>;
  /** Frees resources (the script worker). */
  close?(): Promise<void>;
}

const MICRO = 1_000_000;
const MAX_MICRO_WEIGHT = 1_000_000 * MICRO;
const MAX_TIMEOUT_MS = 60_000;

interface Entry {
  readonly fingerprint: string;
  readonly logs: string[];
  micro: number;
}

/** The votes classified once per decision, shared by the chain's built-in deciders. */
interface Analysis {
  readonly votes: readonly LogVote[];
  /** W: every configured log's weight, in millionths. */
  readonly total: number;
  /** Heaviest first. */
  readonly tally: readonly Entry[];
  readonly byFingerprint: ReadonlyMap<string, Entry>;
  /** Every non-abstaining voting log, in vote order. */
  readonly voters: readonly Mismatch[];
  readonly misses: readonly string[];
  readonly abstentions: readonly Abstention[];
}

function contradicts(fingerprints: readonly string[]): boolean {
  const first = fingerprints[0];
  for (let i = 1; i < fingerprints.length; i++) if (fingerprints[i] !== first) return true;
  return false;
}

function analyse(votes: readonly LogVote[]): Analysis {
  let total = 0;
  const tally: Entry[] = [];
  const byFingerprint = new Map<string, Entry>();
  const voters: Mismatch[] = [];
  const misses: string[] = [];
  const abstentions: Abstention[] = [];
  for (const vote of votes) {
    const micro = Math.round(vote.weight * MICRO);
    // Also refuses NaN: a weight outside the contract is a caller bug, not an undecidable vote.
    if (!(micro >= 1 && micro <= MAX_MICRO_WEIGHT))
      throw new OutOfRangeError(`log ${vote.log}: a weight must be in (0, 1000000], not ${vote.weight}`);
    total += micro;
    const fps = vote.fingerprints;
    const first = fps[0];
    if (vote.forked) abstentions.push({ log: vote.log, reason: 'forked', fingerprints: fps });
    else if (first === undefined) misses.push(vote.log);
    else if (fps.length > 1 && contradicts(fps))
      abstentions.push({ log: vote.log, reason: 'contradicting', fingerprints: [...new Set(fps)] });
    else {
      voters.push({ log: vote.log, fingerprint: first });
      let entry = byFingerprint.get(first);
      if (entry === undefined) {
        entry = { fingerprint: first, logs: [], micro: 0 };
        byFingerprint.set(first, entry);
        tally.push(entry);
      }
      entry.logs.push(vote.log);
      entry.micro += micro;
    }
  }
  if (!Number.isSafeInteger(total))
    throw new OutOfRangeError('the logs’ total weight is too large to sum exactly');
  // Heaviest first, then most logs, then by fingerprint so the order never depends on the votes' order.
  if (tally.length > 1)
    tally.sort(
      (a, b) =>
        b.micro - a.micro ||
        b.logs.length - a.logs.length ||
        (a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0),
    );
  return { votes, total, tally, byFingerprint, voters, misses, abstentions };
}

/** The chain's fast path: built-in deciders decide on the shared analysis. */
const ANALYSED = Symbol('decideAnalysed');
interface AnalysedDecider extends Decider {
  [ANALYSED](analysis: Analysis): DeciderOutcome;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const weightText = (micro: number): string => String(micro / MICRO);

class ThresholdDecider implements AnalysedDecider {
  readonly spec: DeciderSpec;
  readonly #count: number;
  readonly #num: number;
  readonly #den: number;
  readonly #bigNum: bigint;
  readonly #bigDen: bigint;
  readonly #needs: string;

  constructor(count: number, fraction: Fraction) {
    this.spec = checkDeciderSpec({ kind: 'threshold', count, fraction: { ...fraction } });
    this.#count = count;
    this.#num = fraction.numerator;
    this.#den = fraction.denominator;
    this.#bigNum = BigInt(fraction.numerator);
    this.#bigDen = BigInt(fraction.denominator);
    this.#needs =
      this.#num === 0
        ? `needs ${plural(count, 'log')}`
        : `needs ${plural(count, 'log')} and ${this.#num}/${this.#den} of the weight`;
  }

  /** w/W >= num/den, exactly: products of integers are exact as doubles up to 2^53, else BigInt. */
  #heavyEnough(w: number, total: number): boolean {
    const left = w * this.#den;
    const right = this.#num * total;
    if (left <= Number.MAX_SAFE_INTEGER && right <= Number.MAX_SAFE_INTEGER) return left >= right;
    return BigInt(w) * this.#bigDen >= this.#bigNum * BigInt(total);
  }

  decide(votes: readonly LogVote[]): DeciderOutcome {
    return this[ANALYSED](analyse(votes));
  }

  [ANALYSED](a: Analysis): DeciderOutcome {
    const n = a.votes.length;
    if (n === 0) return { reason: 'no logs configured' };
    let winner: Entry | undefined;
    let qualifying = 0;
    for (const entry of a.tally) {
      if (entry.logs.length >= this.#count && this.#heavyEnough(entry.micro, a.total)) {
        qualifying++;
        winner ??= entry;
      }
    }
    if (qualifying === 1 && winner !== undefined) return { fingerprint: winner.fingerprint };
    if (qualifying > 1) return { reason: `tie: ${qualifying} values qualify; ${this.#needs}` };
    const best = a.tally[0];
    if (best === undefined)
      return {
        reason: `no log voted (${n} configured: ${a.misses.length} silent, ${a.abstentions.length} abstaining); ${this.#needs}`,
      };
    return {
      reason: `${best.logs.length} of ${plural(n, 'log')} (weight ${weightText(best.micro)} of ${weightText(a.total)}) agree; ${this.#needs}`,
    };
  }
}

class TrustDecider implements AnalysedDecider {
  readonly spec: DeciderSpec;
  readonly #log: string;

  constructor(log: string) {
    this.spec = checkDeciderSpec({ kind: 'trust', log });
    this.#log = log;
  }

  decide(votes: readonly LogVote[]): DeciderOutcome {
    const name = this.#log;
    const vote = votes.find((v) => v.log === name);
    if (vote === undefined) return { reason: `log ${name} is not followed` };
    if (vote.forked) return { reason: `log ${name} is forked (its key signed two histories)` };
    const first = vote.fingerprints[0];
    if (first === undefined) return { reason: `log ${name} has no entry for the path` };
    if (contradicts(vote.fingerprints))
      return {
        reason: `log ${name} holds ${new Set(vote.fingerprints).size} different fingerprints for the path`,
      };
    return { fingerprint: first };
  }

  [ANALYSED](a: Analysis): DeciderOutcome {
    return this.decide(a.votes);
  }
}

export function thresholdDecider(count: number, fraction: Fraction): Decider {
  return new ThresholdDecider(count, fraction);
}

export function trustDecider(log: string): Decider {
  return new TrustDecider(log);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === 'function';
}

function finish(
  a: Analysis,
  entry: Entry | undefined,
  decider: string | undefined,
  reasons: string[],
): Decision {
  return {
    fingerprint: entry?.fingerprint,
    decider: entry === undefined ? undefined : decider,
    agreeing: entry === undefined ? [] : entry.logs,
    mismatches: entry === undefined ? a.voters : a.voters.filter((v) => v.fingerprint !== entry.fingerprint),
    misses: a.misses,
    abstentions: a.abstentions,
    tally: a.tally.map((e) => ({ fingerprint: e.fingerprint, logs: e.logs, weight: e.micro / MICRO })),
    reasons,
  };
}

/** An ordered chain: the first decider that decides wins. */
export class DeciderChain {
  readonly deciders: readonly Decider[];
  readonly #names: readonly string[];

  constructor(deciders: readonly Decider[]) {
    this.deciders = [...deciders];
    this.#names = this.deciders.map((d) => formatDeciderSpec(d.spec));
  }

  /** Decides; fills every field of Decision. Only asynchronous deciders (scripts) cost extra promises. */
  decide(votes: readonly LogVote[]): Promise<Decision> {
    try {
      return this.#run(analyse(votes), [], 0);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #run(a: Analysis, reasons: string[], from: number): Promise<Decision> {
    for (let i = from; i < this.deciders.length; i++) {
      const decider = this.deciders[i]!;
      let outcome: DeciderOutcome | Promise<DeciderOutcome>;
      try {
        outcome = ANALYSED in decider ? (decider as AnalysedDecider)[ANALYSED](a) : decider.decide(a.votes);
      } catch (error) {
        // A decider must not throw; if a custom one does, it simply did not decide.
        outcome = { reason: `failed: ${describe(error)}` };
      }
      if (isPromiseLike(outcome))
        return Promise.resolve(outcome)
          .then(undefined, (error: unknown): DeciderOutcome => ({ reason: `failed: ${describe(error)}` }))
          .then((o) => this.#accept(a, reasons, i, o) ?? this.#run(a, reasons, i + 1));
      const decision = this.#accept(a, reasons, i, outcome);
      if (decision !== undefined) return Promise.resolve(decision);
    }
    return Promise.resolve(finish(a, undefined, undefined, reasons));
  }

  #accept(a: Analysis, reasons: string[], i: number, outcome: DeciderOutcome): Decision | undefined {
    const name = this.#names[i]!;
    if ('fingerprint' in outcome && typeof outcome.fingerprint === 'string') {
      // Whatever a decider says, only a value some non-abstaining log voted for can be decided.
      const entry = a.byFingerprint.get(outcome.fingerprint);
      if (entry !== undefined) return finish(a, entry, name, reasons);
      reasons.push(`${name}: returned a value no log voted for`);
    } else reasons.push(`${name}: ${'reason' in outcome ? outcome.reason : 'no decision'}`);
    return undefined;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.deciders.map((d) => d.close?.()));
  }

  /** close(), under the name the node's parts are stopped by. */
  stop(): Promise<void> {
    return this.close();
  }
}

/** Builds the chain for specs; script deciders are started (their module loaded) before it returns. */
export async function createDeciderChain(
  specs: readonly DeciderSpec[],
  options: { baseDir?: string } = {},
): Promise<DeciderChain> {
  const baseDir = options.baseDir ?? process.cwd();
  const deciders: Decider[] = [];
  try {
    for (const spec of specs) {
      checkDeciderSpec(spec);
      if (spec.kind === 'threshold') deciders.push(thresholdDecider(spec.count, spec.fraction));
      else if (spec.kind === 'trust') deciders.push(trustDecider(spec.log));
      else {
        const script = new ScriptDecider(spec.module, { baseDir, timeoutMs: spec.timeoutMs });
        deciders.push(script);
        await script.start();
      }
    }
  } catch (error) {
    await Promise.allSettled(deciders.map((d) => d.close?.()));
    throw error;
  }
  return new DeciderChain(deciders);
}

// ---- The shorthand ----

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
    case 'trust': {
      const [log, ...extra] = words(rest);
      if (log === undefined || extra.length > 0) throw malformed(`${quote(trimmed)}: expected "trust NAME"`);
      return checkDeciderSpec({ kind: 'trust', log });
    }
    case 'script':
      return parseScript(trimmed, rest);
    default:
      throw malformed(`unknown decider ${quote(kind)} (expected threshold, trust or script)`);
  }
}

/** Canonical text of a spec (round-trips through parseDeciderSpec), used as `decider` in Decision. */
export function formatDeciderSpec(spec: DeciderSpec): string {
  switch (spec.kind) {
    case 'threshold': {
      const { numerator, denominator } = spec.fraction;
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
