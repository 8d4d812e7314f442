/**
 * `npm run bench -- links`: what the TAP link emulator (test/helpers/link-emulator.ts) costs, since it is
 * on the data path of every shaped lab link where the kernel has no sch_netem. One TCP stream of
 * TRUSTIX_BENCH_LINKS_MB (default 32) MiB between two namespaces over: a plain veth pair (the baseline of
 * the same run), an emulated link with no delay (the emulator's own cost), and an emulated 40 ms ± 10 ms
 * link each way (the links of issues 15 and 18, no loss: loss would measure TCP's recovery, not the
 * emulator). Reported: MiB/s, the emulator's frames/s and its CPU time as a share of one core over the
 * transfer. Needs root and `ip`; the machine's load is reported beside the figures.
 */

import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import type { EmulatorStats } from '../test/helpers/link-emulator.ts';
import { type LinkShape, NetLab, netnsUnavailable } from '../test/helpers/netns.ts';
import { type Measurement, suiteResult } from './harness.ts';

const MIB = Number(process.env['TRUSTIX_BENCH_LINKS_MB'] ?? 32);
const CASES: readonly { name: string; shape?: LinkShape }[] = [
  { name: 'plain veth pair' },
  { name: 'emulated link, no delay', shape: { delayMs: 0 } },
  { name: 'emulated link, 40 ms ± 10 ms each way', shape: { delayMs: 40, jitterMs: 10 } },
];

export async function run() {
  const measurements: Measurement[] = [];
  const unavailable = netnsUnavailable();
  if (unavailable !== undefined) {
    process.stderr.write(`links benchmark skipped: ${unavailable}\n`);
    return suiteResult('links', measurements);
  }
  for (const c of CASES) {
    const loadBefore = loadavg()[0]!;
    const lab = await NetLab.create({ shaper: 'tap' });
    try {
      const a = await lab.namespace('a');
      const b = await lab.namespace('b');
      await lab.link(a, '10.70.0.1/24', b, '10.70.0.2/24', { aShape: c.shape, bShape: c.shape });
      const bytes = MIB * 1024 * 1024;
      const sink = lab.spawn(b, process.execPath, [
        '-e',
        `let n = 0, t0;
         require('node:net').createServer((s) => s.on('data', (d) => {
           t0 ??= performance.now(); n += d.length;
           if (n >= ${bytes}) { console.log(performance.now() - t0); process.exit(0); }
         })).listen(7100, '10.70.0.2', () => console.log('ready'));`,
      ]);
      const lines = createInterface({ input: sink.stdout! })[Symbol.asyncIterator]();
      await lines.next();
      const before = await lab.emulatorStats();
      lab.spawn(a, process.execPath, [
        '-e',
        `const s = require('node:net').connect(7100, '10.70.0.2'); const chunk = Buffer.alloc(65536);
         let left = ${bytes};
         const pump = () => { while (left > 0) { left -= chunk.length; if (!s.write(chunk)) return s.once('drain', pump); } s.end(); };
         s.on('connect', pump);`,
      ]);
      const ms = Number((await lines.next()).value);
      const after = await lab.emulatorStats();
      const emulator = before && after ? cost(before, after, ms) : {};
      measurements.push({
        name: `one TCP stream, ${MIB} MiB: ${c.name}`,
        median: Math.round((MIB / (ms / 1000)) * 10) / 10,
        unit: 'MiB/s',
        runs: 1,
        ms: Math.round(ms),
        ...emulator,
        loadBefore,
        loadAfter: loadavg()[0]!,
      });
    } finally {
      await lab.teardown();
    }
  }
  return suiteResult('links', measurements);
}

/** The emulator's frames/s and CPU share of one core between two readings `ms` apart (about). */
function cost(before: EmulatorStats, after: EmulatorStats, ms: number) {
  const frames = (s: EmulatorStats) =>
    Object.values(s.pairs).reduce((n, p) => n + p.ab.forwarded + p.ba.forwarded, 0);
  return {
    emulatorFramesPerSecond: Math.round((frames(after) - frames(before)) / (ms / 1000)),
    emulatorCpuShare: Math.round(((after.cpuMs - before.cpuMs) / ms) * 100) / 100,
  };
}
