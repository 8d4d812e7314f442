/**
 * autocannon, the HTTP load generator of the substituter benchmark (bench/substituter.ts), typed: it ships
 * no types, so the part of its programmatic API used here is declared here, once, and every run goes
 * through `cannon`.
 */
import { createRequire } from 'node:module';

interface Histogram {
  readonly average: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly total: number;
}

export interface AutocannonResult {
  readonly duration: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly '2xx': number;
  readonly '4xx': number;
  readonly statusCodeStats: Readonly<Record<string, { count: number }>>;
  readonly latency: Histogram & { readonly totalCount: number };
  readonly requests: Histogram & { readonly sent: number };
}

export interface AutocannonOptions {
  readonly url: string;
  readonly connections: number;
  readonly pipelining: number;
  readonly duration?: number;
  readonly amount?: number;
  readonly workers?: number;
  readonly timeout?: number;
  readonly sampleInt?: number;
  /** In workers mode, `setupRequest` is the path of a CommonJS module exporting the function. */
  readonly requests?: readonly ({ readonly setupRequest: string } | { readonly path: string })[];
}

// autocannon ships no types: loaded through require, typed by the interfaces above.
const autocannon = createRequire(import.meta.url)('autocannon') as (
  options: AutocannonOptions,
  callback: (err: Error | null, result: AutocannonResult) => void,
) => unknown;

/** One run; resolves with its result. */
export function cannon(options: AutocannonOptions): Promise<AutocannonResult> {
  return new Promise((resolve, reject) =>
    autocannon(options, (err, result) => (err ? reject(err) : resolve(result))),
  );
}
