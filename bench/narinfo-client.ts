/**
 * The narinfo client of the hostile benchmark (bench/hostile.ts), in a process of its own so that the
 * attackers' work in the benchmark's process (publishing, signing) does not delay its requests: it asks
 * the victim's substituter for `paths` (hash parts) in turn, one request at a time, until told to stop.
 * IPC: { start: { base, paths } } -> { started: true }; { stop: true } -> { stopped: { times, failures } }
 * (latencies in ms; failed requests, each with the seconds since start), then it exits.
 */
let stop = false;
let done: Promise<{ times: number[]; failures: string[] }> | undefined;

async function run(base: string, paths: readonly string[]) {
  const times: number[] = [];
  const failures: string[] = [];
  const started = Date.now();
  for (let i = 0; !stop; i++) {
    const t = process.hrtime.bigint();
    try {
      const res = await fetch(`${base}${paths[i % paths.length]}.narinfo`);
      await res.arrayBuffer();
      if (res.status !== 200 && res.status !== 404) throw new Error(`HTTP ${res.status}`);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    } catch (e) {
      const why = e instanceof Error ? `${e.message} ${e.cause ?? ''}` : String(e);
      failures.push(`${(Date.now() - started) / 1000} s: ${why}`);
    }
  }
  return { times, failures };
}

process.on('message', (m: { start?: { base: string; paths: string[] }; stop?: true }) => {
  if (m.start !== undefined) {
    done = run(m.start.base, m.start.paths);
    process.send!({ started: true });
  } else if (m.stop !== undefined) {
    stop = true;
    void done!.then((result) => process.send!({ stopped: result }, () => process.exit(0)));
  }
});
