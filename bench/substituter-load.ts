/**
 * The load the substituter benchmark (bench/substituter.ts) puts on a server, and what it cost: one
 * autocannon run (bench/autocannon.ts) with the CPU time of the main thread (the servers) and of every
 * other thread per request, and the priming that requests each path once before. Apart from the series of
 * loads because every load, against the substituter or the baseline, is measured the same way.
 */
import { readFileSync } from 'node:fs';
import { cannon } from './autocannon.ts';
import { CONNECTIONS } from './substituter-settings.ts';

export interface Run {
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly requests: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly non2xx: number;
  /** Event-loop utilization of the main thread (the servers) during the run. */
  readonly loopBusy: number;
  /** Main-thread CPU time per request, µs (Linux; undefined elsewhere). */
  readonly serverCpuUs: number | undefined;
  /** CPU time of every other thread per request, µs: the autocannon worker (its start-up included),
   * libuv's pool (LevelDB reads), V8's GC helpers. */
  readonly otherCpuUs: number | undefined;
  /** Share of the run the main thread was runnable but waiting for a CPU (machine noise). */
  readonly cpuWait: number | undefined;
}

/** The main thread's CPU and run-queue wait times in ns (/proc/self/task/PID/schedstat), if available. */
function mainThreadSched(): { cpu: number; wait: number } | undefined {
  try {
    const [cpu, wait] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8')
      .split(' ')
      .map(Number);
    return cpu === undefined || wait === undefined ? undefined : { cpu, wait };
  } catch {
    return undefined;
  }
}

/**
 * One autocannon run against `url`. `requests`: a setupRequest module (a path per request), or fixed
 * paths, which every connection cycles through (prebuilt: the cheapest client). Throws unless every
 * response had status `expect`.
 */
export async function load(
  url: string,
  requests: string | readonly string[],
  expect: number,
  limit: { duration: number } | { amount: number },
): Promise<Run> {
  const elu = performance.eventLoopUtilization();
  const sched = mainThreadSched();
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const r = await cannon({
    url,
    connections: CONNECTIONS,
    pipelining: 1,
    workers: 1,
    timeout: 30,
    // The run ends at the first sample after its duration or amount: sample often to end on time.
    sampleInt: 100,
    requests:
      typeof requests === 'string' ? [{ setupRequest: requests }] : requests.map((path) => ({ path })),
    ...limit,
  });
  const wallNs = Number(process.hrtime.bigint() - started);
  const { user, system } = process.cpuUsage(cpu);
  const schedEnd = mainThreadSched();
  const loop = performance.eventLoopUtilization(elu);
  const statuses = Object.fromEntries(Object.entries(r.statusCodeStats).map(([s, { count }]) => [s, count]));
  const wrong = Object.entries(statuses).filter(([s]) => Number(s) !== expect);
  if (r.errors > 0 || r.timeouts > 0 || wrong.length > 0)
    throw new Error(
      `${url}: expected only ${expect}; got statuses ${JSON.stringify(statuses)}, ${r.errors} errors, ${r.timeouts} timeouts`,
    );
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
  const serverNs = sched && schedEnd ? schedEnd.cpu - sched.cpu : undefined;
  return {
    reqPerSec: answered / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    requests: answered,
    statuses,
    non2xx: r.non2xx,
    loopBusy: loop.utilization,
    serverCpuUs: serverNs === undefined ? undefined : serverNs / 1000 / answered,
    otherCpuUs: serverNs === undefined ? undefined : (user + system - serverNs / 1000) / answered,
    cpuWait: sched && schedEnd ? (schedEnd.wait - sched.wait) / wallNs : undefined,
  };
}

/** Requests each path once (10 at a time), expecting `status`. */
export async function prime(base: string, paths: readonly string[], status: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++]!;
      const res = await fetch(`${base}${path.slice(1)}`);
      await res.arrayBuffer();
      if (res.status !== status) throw new Error(`${path}: ${res.status}, expected ${status}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
}
