/**
 * Benchmark harness: runs a measured function several times and reports medians.
 * Benchmarks print JSON (machine-readable, with the core count) and are never timed tests.
 */
import { availableParallelism } from 'node:os';

export interface Measurement {
  /** What was measured, e.g. 'leafHash'. */
  readonly name: string;
  /** The median over runs of `value`. */
  readonly median: number;
  readonly p99?: number;
  readonly unit: string;
  readonly runs: number;
  readonly target?: string;
  readonly [extra: string]: unknown;
}

export interface SuiteResult {
  readonly suite: string;
  readonly cores: number;
  readonly node: string;
  readonly measurements: Measurement[];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `x` to one decimal place, for reported figures (NaN and infinities as they are). */
export const round1 = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(1)) : x);

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Runs `fn` `runs` times (after one warm-up), each run doing `ops` operations,
 * and returns the median rate in operations per second.
 */
export async function rate(
  name: string,
  ops: number,
  fn: () => unknown | Promise<unknown>,
  options: { runs?: number; unit?: string; target?: string; scale?: number; [extra: string]: unknown } = {},
): Promise<Measurement> {
  const { runs = 5, scale = 1, unit = 'ops/s', target, ...extra } = options;
  await fn();
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates.push((ops * scale) / seconds);
  }
  return {
    name,
    median: round(median(rates)),
    unit,
    runs,
    ...(target ? { target } : {}),
    ...extra,
  };
}

/** Times `fn` once per run and reports the median and p99 duration in milliseconds. */
export async function latency(
  name: string,
  fn: () => unknown | Promise<unknown>,
  options: { runs?: number; target?: string } = {},
): Promise<Measurement> {
  const runs = options.runs ?? 1000;
  await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return {
    name,
    median: round(median(times)),
    p99: round(percentile(times, 99)),
    unit: 'ms',
    runs,
    ...(options.target ? { target: options.target } : {}),
  };
}

export function suiteResult(suite: string, measurements: Measurement[]): SuiteResult {
  return { suite, cores: availableParallelism(), node: process.version, measurements };
}

/** `x` to four significant digits, for reported figures. */
export function round(x: number): number {
  return Number(x.toPrecision(4));
}
