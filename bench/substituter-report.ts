/**
 * The substituter benchmark's report (bench/substituter.ts): a load's runs (Run, bench/substituter-load.ts)
 * as one of the harness's measurements, with their medians, worst latencies and CPU figures. Apart from the
 * loads so that what is kept can change without touching how it is measured.
 */
import { type Measurement, median, round } from './harness.ts';
import type { Run } from './substituter-load.ts';

export function summary(
  name: string,
  runs: readonly Run[],
  extra: Record<string, unknown> = {},
): Measurement {
  const medianOf = (f: (r: Run) => number | undefined, digits: number) => {
    const values = runs.map(f).filter((v) => v !== undefined);
    return values.length === 0 ? undefined : Number(median(values).toFixed(digits));
  };
  return {
    name,
    median: round(median(runs.map((r) => r.reqPerSec))),
    unit: 'req/s',
    runs: runs.length,
    ...extra,
    p50Ms: median(runs.map((r) => r.p50)),
    p99Ms: median(runs.map((r) => r.p99)),
    worstP99Ms: Math.max(...runs.map((r) => r.p99)),
    maxMs: Math.max(...runs.map((r) => r.max)),
    perRun: runs.map((r) => round(r.reqPerSec)),
    requests: runs.reduce((a, r) => a + r.requests, 0),
    statuses: Object.keys(runs[0]?.statuses ?? {}).join(','),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    serverCpuUsPerRequest: medianOf((r) => r.serverCpuUs, 0),
    // What one core spent only on the server thread would answer: the rate without the client's share.
    serverCpuBoundReqPerSec: medianOf((r) => (r.serverCpuUs ? 1e6 / r.serverCpuUs : undefined), 0),
    otherThreadsCpuUsPerRequest: medianOf((r) => r.otherCpuUs, 0),
    serverLoopBusy: medianOf((r) => r.loopBusy, 2),
    serverCpuWait: medianOf((r) => r.cpuWait, 2),
  };
}
