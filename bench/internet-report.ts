/**
 * The internet benchmark's report (bench/internet.ts): the figures of every set-up (RunFigures,
 * bench/internet-run.ts) as the harness's measurements, each beside the machine's load and the links,
 * with the machine's pace and the relayed/direct and webrtc/direct ratios. Apart from the set-ups so that
 * what is kept can change without touching how it is measured.
 */
import { loadavg } from 'node:os';
import type { LinkShape } from '../test/helpers/netns.ts';
import { type Measurement, median, percentile } from './harness.ts';
import type { RunFigures } from './internet-run.ts';
import { ENTRIES, KINDS, type Kind, RUNS, SHAPE } from './internet-settings.ts';

/** The figures of every set-up as measurements, beside the machine's pace and load average before. */
export function report(
  figures: Record<Kind, RunFigures[]>,
  paceBefore: number,
  paceAfter: number,
  loadBefore: readonly number[],
): Measurement[] {
  const measurements: Measurement[] = [];
  const machinePace = (paceBefore + paceAfter) / 2;
  measurements.push({
    name: "machine's pace: the run's entries leaf-hashed and parsed on one thread (baseline)",
    median: Math.round(machinePace),
    before: Math.round(paceBefore),
    after: Math.round(paceAfter),
    unit: 'entries/s',
    runs: 6,
  });
  const shaper = Object.values(figures).flat()[0]?.shaper ?? 'none';
  const load = {
    loadBefore: round2(loadBefore),
    loadAfter: round2(loadavg()),
    links: SHAPE ? `${describeShape(SHAPE)}, on what each host sends (${shaper})` : 'plain veths',
  };
  const reservations = [...figures.relayed, ...figures.webrtc].flatMap((f) => f.reservationMs ?? []);
  const directMs = figures.webrtc.flatMap((f) => f.directMs ?? []);
  measurements.push({
    name: 'NATed node start -> first relay reservation',
    median: Math.round(median(reservations)),
    max: Math.round(Math.max(...reservations)),
    unit: 'ms',
    runs: reservations.length,
    ...load,
  });
  if (KINDS.includes('webrtc'))
    measurements.push({
      name: 'follow -> direct WebRTC connection (relayed first)',
      median: Math.round(median(directMs)),
      max: Math.round(Math.max(...directMs)),
      unit: 'ms',
      runs: directMs.length,
      ...load,
    });
  for (const kind of KINDS) {
    const f = figures[kind];
    const propagation = f.flatMap((x) => x.propagationMs);
    measurements.push({
      name: `checkpoint propagation, builder's submission -> user knows it (${kind})`,
      median: Math.round(median(propagation)),
      p95: Math.round(percentile(propagation, 95)),
      unit: 'ms',
      runs: propagation.length,
      target: kind === 'relayed' ? 'median <= 500 ms' : undefined,
      ...load,
    });
    const emulated = f.flatMap((x) => x.emulator ?? []);
    if (emulated.length > 0)
      measurements.push({
        name: `link emulator during the sync (${kind})`,
        median: Math.round(median(emulated.map((e, i) => (100 * e.cpuMs) / f[i]!.syncMs))),
        unit: '% of one core',
        framesPerSecond: Math.round(median(emulated.map((e, i) => e.frames / (f[i]!.syncMs / 1000)))),
        runs: emulated.length,
        ...load,
      });
    measurements.push({
      name: `follow -> builder's first checkpoint known (${kind})`,
      median: Math.round(median(f.map((x) => x.findMs))),
      unit: 'ms',
      runs: f.length,
      ...load,
    });
    measurements.push({
      name: `fresh node start -> first Trustix peer (first checkpoint of the log it follows) (${kind})`,
      median: Math.round(median(f.map((x) => x.freshMs))),
      fromReady: Math.round(median(f.map((x) => x.freshReadyMs))),
      unit: 'ms',
      runs: f.length,
      target: 'first Trustix peer <= 10 s',
      ...load,
    });
    const lookups = f.flatMap((x) => x.lookupMs);
    measurements.push({
      name: `a light node's lookups of the log's paths, one at a time (${kind})`,
      median: Math.round(median(lookups)),
      p95: Math.round(percentile(lookups, 95)),
      unit: 'ms',
      runs: lookups.length,
      exchangesPerLookup:
        Math.round((100 * f.reduce((n, x) => n + x.lookupExchanges, 0)) / Math.max(1, lookups.length)) / 100,
      ...load,
    });
    measurements.push({
      name: `follow -> verified copy of ${ENTRIES} entries (${kind})`,
      median: Math.round(median(f.map((x) => ENTRIES / (x.syncMs / 1000)))),
      medianMs: Math.round(median(f.map((x) => x.syncMs))),
      unit: 'entries/s',
      runs: f.length,
      // How the user reached the builder in each run (every connection through the relay, or not).
      paths: f.map((x) => x.path),
      ratioToPace:
        Math.round((1000 * median(f.map((x) => ENTRIES / (x.syncMs / 1000)))) / machinePace) / 1000,
      target: kind === 'direct' ? '>= 20,000 entries/s' : undefined,
      ...load,
    });
    // What the sync cost each side's process: entries per second of its CPU is the rate a node could
    // reach with a core of its own (on these 2 shared cores the builder, the user and the link emulator
    // compete), and the busy share says how close to that the sync ran.
    for (const side of ['user', 'builder'] as const)
      measurements.push({
        name: `${side}'s CPU during the sync (${kind})`,
        median: Math.round(median(f.map((x) => ENTRIES / (x.syncCpuMs[side] / 1000)))),
        unit: 'entries per CPU second',
        cpuMs: Math.round(median(f.map((x) => x.syncCpuMs[side]))),
        busyPercent: Math.round(median(f.map((x) => (100 * x.syncCpuMs[side]) / x.syncMs))),
        runs: f.length,
        ...load,
      });
  }
  const rate = (kind: Kind) => median(figures[kind].map((x) => ENTRIES / (x.syncMs / 1000)));
  if (KINDS.includes('direct'))
    for (const kind of KINDS.filter((k) => k !== 'direct'))
      measurements.push({
        name: `${kind} / direct sync rate`,
        median: round2([rate(kind) / rate('direct')])[0]!,
        unit: 'ratio',
        runs: RUNS,
        ...load,
      });
  return measurements;
}

function round2(values: readonly number[]): number[] {
  return values.map((v) => Math.round(v * 100) / 100);
}

/** A shape in words: `40 ms ± 10 ms one way, 0.5 % loss`. */
function describeShape(shape: LinkShape): string {
  const parts = [`${shape.delayMs} ms${shape.jitterMs ? ` ± ${shape.jitterMs} ms` : ''} one way`];
  if (shape.loss) parts.push(`${shape.loss * 100} % loss`);
  if (shape.rateBytesPerSecond) parts.push(`${shape.rateBytesPerSecond} bytes/s`);
  if (shape.limit) parts.push(`a queue of ${shape.limit} frames`);
  return parts.join(', ');
}
