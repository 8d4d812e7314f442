/**
 * The hostile benchmark's side of its narinfo client (bench/narinfo-client.ts is the client's process
 * itself): the process started, told which paths to ask, and stopped for the latencies it measured. Apart
 * from the attack because it is a process of its own with its own IPC, like the victim's.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The narinfo client's process (bench/narinfo-client.ts), asking `paths` of `base` from now on. */
export async function narinfoClient(base: string, paths: readonly string[]) {
  const child = fork(fileURLToPath(new URL('./narinfo-client.ts', import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T>(key: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (m[key] === undefined) return;
        child.off('message', onMessage);
        resolve(m[key] as T);
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`narinfo client exited (${code})`)));
    });
  const started = next<true>('started');
  child.send({ start: { base, paths } });
  await started;
  return {
    stop: async () => {
      const stopped = next<{ times: number[]; failures: string[] }>('stopped');
      child.send({ stop: true });
      return stopped;
    },
  };
}
