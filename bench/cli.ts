/**
 * `npm run bench -- cli`: how fast the `trustix` command answers (docs/CLI.md: commands load only what
 * they use). Median wall time of `trustix --version`, `trustix logs` and `trustix decide PATH` against a
 * running node, each run as a user runs it (a new Node process of cli/bin/trustix.js), next to `node -e 0`
 * measured in the same rounds. Twice: with the compiled build in dist/ (what the bin runs when it is
 * fresh; built first if not) and with the sources through tsx (what it runs otherwise).
 * Target: at most 100 ms more than `node -e 0` (compiled). Wall time is the target's measure; the CPU time
 * each run took (user + system, cpuMedian) is reported beside it, as it moves less with the machine's load.
 *
 * The node runs in this process on 127.0.0.1 only: no bootstrap peers, loopback listen and HTTP.
 */
import '../node/client.ts';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { initDataDir } from '../node/client.ts';
import { TrustixNode } from '../node/index.ts';
import { build, isFresh, ROOT } from '../scripts/build.mjs';
import { tempDir } from '../test/helpers/log-fixture.ts';
import { type Measurement, median, percentile, suiteResult } from './harness.ts';

const exec = promisify(execFile);
const RUNS = Number(process.env['BENCH_CLI_RUNS'] ?? 21);
const TARGET_MS = 100;
const BIN = join(ROOT, 'cli', 'bin', 'trustix.js');
/** The bin's fallback, without its freshness check: the sources through tsx. */
const SOURCES = `
const { register } = await import('tsx/esm/api');
register();
const { main } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'cli', 'main.ts')).href)});
process.exitCode = await main(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
`;

interface Case {
  readonly name: string;
  readonly argv: readonly string[];
  /** Exit codes that mean it answered (decide of an undecided path: 3). */
  readonly ok: readonly number[];
}

/**
 * CPU time (user + system) of this process's reaped children so far, in ms (Linux: /proc/self/stat's
 * cutime and cstime, in clock ticks of 10 ms). Less sensitive to the machine's load than wall time.
 */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 of the line (cutime, cstime); the slice starts at field 3.
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

async function wall(c: Case, env: NodeJS.ProcessEnv): Promise<{ wall: number; cpu: number }> {
  const cpu = childrenCpuMs();
  const start = process.hrtime.bigint();
  let code = 0;
  try {
    await exec(process.execPath, [...c.argv], { cwd: ROOT, env, timeout: 60_000 });
  } catch (err) {
    code = (err as { code?: unknown }).code as number;
    if (!c.ok.includes(code)) throw new Error(`${c.name}: exit ${String(code)}: ${String(err)}`);
  }
  return { wall: Number(process.hrtime.bigint() - start) / 1e6, cpu: childrenCpuMs() - cpu };
}

export async function run() {
  if (!isFresh()) await build();
  const dir = await tempDir('trustix-bench-cli-');
  const env = { ...process.env, TRUSTIX_LOCAL_ONLY: '1', TRUSTIX_DATA_DIR: dir, FORCE_COLOR: '0' };
  await initDataDir(dir, { name: 'bench-cli-1' });
  const node = new TrustixNode({
    dataDir: dir,
    http: { host: '127.0.0.1', port: 0 },
    p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], announce: [], bootstrap: [] },
  });
  await node.start();
  const path = '/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432';
  const client = (name: string, args: string[], ok: number[] = [0]) => [
    { name: `trustix ${name} (compiled)`, argv: [BIN, ...args], ok },
    {
      name: `trustix ${name} (sources, tsx)`,
      argv: ['--input-type=module', '-e', SOURCES, '--', ...args],
      ok,
    },
  ];
  const cases: Case[] = [
    { name: 'node -e 0', argv: ['-e', '0'], ok: [0] },
    ...client('--version', ['--version']),
    ...client('logs', ['logs']),
    ...client('decide PATH', ['decide', path], [0, 3]),
  ];
  const load = { start: loadavg().map((x) => Number(x.toFixed(2))), end: [] as number[] };
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const cpus = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  try {
    for (const c of cases) await wall(c, env); // warm-up: file caches, a first compile by tsx
    // Round-robin: a change in the machine's load touches every case alike.
    for (let i = 0; i < RUNS; i++)
      for (const c of cases) {
        const r = await wall(c, env);
        times.get(c.name)!.push(r.wall);
        cpus.get(c.name)!.push(r.cpu);
      }
  } finally {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  }
  load.end = loadavg().map((x) => Number(x.toFixed(2)));
  const baseline = median(times.get('node -e 0')!);
  const baselineCpu = median(cpus.get('node -e 0')!);
  const measurements: Measurement[] = cases.map((c) => {
    const t = times.get(c.name)!;
    const m = median(t);
    return {
      name: c.name,
      median: round(m),
      p90: round(percentile(t, 90)),
      unit: 'ms',
      runs: RUNS,
      cpuMedian: median(cpus.get(c.name)!),
      ...(c.name === 'node -e 0'
        ? { baseline: true }
        : {
            overNodeE0: round(m - baseline),
            cpuOverNodeE0: median(cpus.get(c.name)!) - baselineCpu,
            ratioToNodeE0: round(m / baseline),
            ...(c.name.endsWith('(compiled)') ? { target: `<= ${TARGET_MS} ms over node -e 0` } : {}),
            ...(c.name.endsWith('(compiled)') ? { met: m - baseline <= TARGET_MS } : {}),
          }),
    };
  });
  return { ...suiteResult('cli', measurements), loadavg: load };
}

function round(x: number): number {
  return Number(x.toFixed(1));
}
