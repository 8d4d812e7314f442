/**
 * The light benchmark's side of its light node (bench/light-worker.ts is the node's process itself): the
 * process started from the compiled build, a request/answer over its IPC channel, and its stop. Apart
 * from the run because it is a process of its own with its own IPC, like the hostile benchmark's victim
 * (bench/hostile-victim-process.ts).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DAEMON_ENVIRONMENT } from '../node/index.ts';
import { build, compiledUrl, isFresh } from '../scripts/build.mjs';

/**
 * The light node's answer to `decide`: each decision's time in ms, the decisions some log left
 * unanswered, and the lookup exchanges they took.
 */
export type Decided = { ms: number[]; unanswered: number; exchanges: number };

/**
 * The light node's process, run from the compiled build as the systemd unit runs a node (tsx's
 * transpiler would add its own memory to the RSS), and a request/answer over its IPC channel.
 */
export async function lightWorker() {
  // A build from before the worker was compiled is fresh by its own manifest, yet lacks it.
  const compiled = () => compiledUrl('bench/light-worker.ts');
  if (!isFresh() || !existsSync(fileURLToPath(compiled()!))) await build();
  const child: ChildProcess = fork(fileURLToPath(compiled()!), [], {
    execArgv: [],
    env: { ...process.env, ...DAEMON_ENVIRONMENT },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = <T>(message: object, answer: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (m['error'] !== undefined) reject(new Error(`light worker: ${m['error']}`));
        else if (m[answer] !== undefined) resolve(m[answer] as T);
        else return;
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onExit = (code: number | null) => reject(new Error(`light worker exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(message);
    });
  return { child, ask };
}
export type LightWorker = Awaited<ReturnType<typeof lightWorker>>;

/** Asks the light node's process to stop, waits up to 10 s for it to exit, then kills it. */
export async function stopLightWorker(worker: LightWorker): Promise<void> {
  const exited = new Promise((resolve) => worker.child.once('exit', resolve));
  if (worker.child.connected) worker.child.send({ stop: true });
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  worker.child.kill('SIGKILL');
}
