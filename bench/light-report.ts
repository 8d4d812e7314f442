/**
 * The light benchmark's report (bench/light.ts): one size's figures (LightFigures) as the harness's
 * measurements, the light node's beside the baseline's (the full node's) with their ratios and targets.
 * Apart from the run so that what is kept can change without touching how it is measured.
 */
import { type Measurement, median, percentile } from './harness.ts';
import type { Decided } from './light-worker-process.ts';

/** `x` to the thousandth, for reported figures. */
export const round = (x: number) => Math.round(x * 1000) / 1000;

/** What one size's run measured: the light node's figures and the baseline's, and the setup's. */
export interface LightFigures {
  readonly entriesPerLog: number;
  /** Seconds: the logs written into provider 1, the copies, the started nodes' statistics index, the light follow. */
  readonly seedS: number;
  readonly copyS: number;
  readonly statsS: number;
  readonly followS: number;
  /** The machine's load average before the light node's decisions and after the baseline's narinfos. */
  readonly loadBefore: number[];
  readonly loadAfter: number[];
  /** The light node's decisions, cold and warm, and its plain HTTP GETs right after the cold ones. */
  readonly cold: Decided;
  readonly get: { readonly ms: number[] };
  readonly warm: Decided;
  /** Times in ms of GET /HASH.narinfo on the light node's substituter, cold and warm. */
  readonly narinfoCold: number[];
  readonly narinfoWarm: number[];
  /** The baseline's (the full node's) decisions and narinfos, in ms. */
  readonly fullCold: number[];
  readonly fullWarm: number[];
  readonly fullNarinfoCold: number[];
  readonly fullNarinfoWarm: number[];
  /** The light node's process after the decisions. */
  readonly usage: { readonly rss: number; readonly heapUsed: number; readonly decisionCacheBytes: number };
  /** The bench process (bootstrap node, two providers, the full node and the upstream). */
  readonly fullMemory: NodeJS.MemoryUsage;
  /** Bytes of the data directories: the light node's and the full node's. */
  readonly lightDisk: number;
  readonly fullDisk: number;
}

/** One size's figures as measurements: disk, RSS, cold and warm decisions, narinfos, the setup. */
export function report(figures: LightFigures): Measurement[] {
  const { entriesPerLog, seedS, copyS, statsS, followS, loadBefore, loadAfter, cold, get, warm } = figures;
  const { narinfoCold, narinfoWarm, fullCold, fullWarm, fullNarinfoCold, fullNarinfoWarm } = figures;
  const { usage, fullMemory, lightDisk, fullDisk } = figures;
  const size = `${entriesPerLog} entries/log`;
  const stats = (name: string, xs: number[], base: number[], target?: string): Measurement => ({
    name: `${name} (${size})`,
    median: round(median(xs)),
    p99: round(percentile(xs, 99)),
    unit: 'ms',
    runs: xs.length,
    baselineMedian: round(median(base)),
    baselineP99: round(percentile(base, 99)),
    ratioToBaseline: round(median(xs) / median(base)),
    ...(target ? { target } : {}),
  });
  return [
    {
      name: `light disk (${size})`,
      median: lightDisk,
      unit: 'bytes',
      runs: 1,
      baseline: fullDisk,
      baselineIs: 'the full node’s data directory',
      target: '≤ 5 MB plus the lookup cache (in memory)',
    },
    {
      name: `light RSS (${size})`,
      median: usage.rss,
      unit: 'bytes',
      runs: 1,
      heapUsed: usage.heapUsed,
      decisionCacheBytes: usage.decisionCacheBytes,
      baselineProcessRss: fullMemory.rss,
      baselineIs: 'the bench process: bootstrap node, two providers, the full node and the upstream',
      target: '≤ 150 MB',
    },
    {
      ...stats('cold decision, light (4 lookups)', cold.ms, fullCold, 'p99 ≤ 100 ms'),
      lookupExchanges: cold.exchanges,
      unanswered: cold.unanswered,
      loopbackHttpGet: { median: round(median(get.ms)), p99: round(percentile(get.ms, 99)) },
    },
    { ...stats('warm decision, light', warm.ms, fullWarm, '≤ 1 ms'), lookupExchanges: warm.exchanges },
    stats('narinfo cold, light (GET /HASH.narinfo)', narinfoCold, fullNarinfoCold),
    stats('narinfo warm, light', narinfoWarm, fullNarinfoWarm),
    {
      name: `setup (${size})`,
      median: seedS,
      unit: 's (4 logs written into provider 1)',
      runs: 1,
      copySeconds: copyS,
      statisticsIndexSeconds: statsS,
      lightFollowSeconds: followS,
      loadAverage: { before: loadBefore, after: loadAfter },
    },
  ];
}
