/**
 * The hostile benchmark's side of its victim (bench/hostile-victim.ts is the victim's process itself):
 * the process started from the compiled build, as the systemd unit runs a node, so that its RSS is its
 * own, and the requests the benchmark asks it over IPC (its logs' status, its memory from /proc, its
 * gossip counters, its stop). Apart from the attack because the spam case and the peers ask it too.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DAEMON_ENVIRONMENT } from '../node/index.ts';
import { build, compiledUrl, isFresh } from '../scripts/build.mjs';
import type { LogFixture } from '../test/helpers/log-fixture.ts';

interface VictimStatus {
  logId: string;
  state: string;
  verifiedSize: number;
  size: number;
  error: string | null;
}

/** The victim's process, run from the compiled build as the systemd unit runs a node, and its IPC. */
export async function startVictim(logs: { log: LogFixture; name: string; mirror: string }[]) {
  // A build from before the victim was compiled is fresh by its own manifest, yet lacks it.
  const compiled = () => compiledUrl('bench/hostile-victim.ts');
  if (!isFresh() || !existsSync(fileURLToPath(compiled()!))) await build();
  const child: ChildProcess = fork(fileURLToPath(compiled()!), [], {
    execArgv: [],
    env: { ...process.env, ...DAEMON_ENVIRONMENT, TRUSTIX_LOCAL_ONLY: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = <T>(message: object, answer: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (m['error'] !== undefined) reject(new Error(`victim: ${m['error']}`));
        else if (m[answer] !== undefined) resolve(m[answer] as T);
        else return;
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onExit = (code: number | null) => reject(new Error(`victim exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(message);
    });
  const started = await ask<{ http: { host: string; port: number }; addr: string }>(
    {
      start: {
        logs: logs.map((l) => ({
          vkey: l.log.key.vkey,
          logId: l.log.key.logId,
          name: l.name,
          mirror: l.mirror,
        })),
        vote: ['majority', 'trust honest'],
      },
    },
    'started',
  );
  const status = async (logId: string) =>
    (await ask<VictimStatus[]>({ status: true }, 'status')).find((s) => s.logId === logId);
  /** Resolves once the victim's status of `logId` passes `until` (asked every 100 ms). */
  const whenStatus = async (logId: string, until: (s: VictimStatus) => boolean) => {
    for (;;) {
      const s = await status(logId);
      if (s !== undefined && until(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const memory = async () => {
    const text = await readFile(`/proc/${child.pid}/status`, 'utf8');
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  };
  const gossip = (peers: string[]) =>
    ask<{ results: Record<string, number>; scores: number[]; logsTracked: number }>(
      { gossip: { peers } },
      'gossip',
    );
  const stop = async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.send({ stop: true });
    await exited;
  };
  return { ...started, status, whenStatus, memory, gossip, stop };
}
export type Victim = Awaited<ReturnType<typeof startVictim>>;
