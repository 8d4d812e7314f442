/**
 * Where the swarm benchmark's worker processes run (bench/swarm.ts): all on loopback, or each in a
 * network namespace of its own on one bridge with emulated links. A worker (bench/swarm-worker.ts) hosts
 * several nodes and answers requests over its IPC channel.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NetLab, Netns } from '../test/helpers/netns.ts';
import { swarmAddress } from './swarm-addresses.ts';

/**
 * The emulated links: one-way latency ± jitter and loss on what every namespace sends (issue 18), by tc
 * netem where the kernel has it, else by the TAP link emulator (test/helpers/link-emulator.ts).
 */
const SHAPE = { delayMs: 40, jitterMs: 10, loss: 0.005 } as const;
export const SHAPE_TEXT = '40 ms ± 10 ms, 0.5% loss';
const WORKER = fileURLToPath(new URL('./swarm-worker.ts', import.meta.url));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One worker process and its request channel. */
export class Worker {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private next = 1;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;

  constructor(
    readonly index: number,
    readonly host: string,
    child: ChildProcess,
  ) {
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n'))
        if (line.trim()) process.stderr.write(`[worker ${index}] ${line}\n`);
    });
    child.stdout?.resume();
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.ready = new Promise((resolve, reject) => {
      this.pending.set(0, { resolve: () => resolve(), reject });
    });
    child.on('message', (msg: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`worker ${index}: ${msg.error}`));
    });
    child.once('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`worker ${index} exited (${code})`));
      this.pending.clear();
    });
  }

  request<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = 600_000): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`worker ${this.index}: ${op} over ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ id, op, ...args });
    });
  }

  /** Asks the worker to stop its nodes and exit; kills it (by its PID) if it does not. */
  async close(): Promise<void> {
    await this.request('stop', {}, 120_000).catch(() => {});
    if (this.child.connected) this.child.disconnect();
    const gone = await Promise.race([this.exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!gone) this.child.kill('SIGKILL');
    await this.exited;
  }
}

export interface Network {
  readonly name: 'loopback' | 'netns';
  /** Link emulation in force, in words. */
  readonly links: string;
  /** How the namespace links are shaped (netns only). */
  readonly shaper?: 'netem' | 'tap';
  workers(count: number): Promise<Worker[]>;
  close(): Promise<void>;
}

const nodeArgs = ['--import', 'tsx', WORKER];
const ipcStdio: ['ignore', 'pipe', 'pipe', 'ipc'] = ['ignore', 'pipe', 'pipe', 'ipc'];

export function loopback(): Network {
  const started: Worker[] = [];
  return {
    name: 'loopback',
    links: 'loopback, no emulation',
    async workers(count) {
      for (let i = 0; i < count; i++)
        started.push(new Worker(i, '127.0.0.1', spawn(process.execPath, nodeArgs, { stdio: ipcStdio })));
      await Promise.all(started.map((w) => w.ready));
      return started;
    },
    async close() {
      await Promise.all(started.splice(0).map((w) => w.close()));
    },
  };
}

/**
 * One namespace per worker process, all on one bridge (10.77.0.0/16), each link emulated on its way
 * out of the namespace; nodes of one process share their namespace's address, and talk to each other
 * unemulated. Each namespace's address is in a /24 of its own, as hosts on the Internet are: in one /24
 * they would share every node's connection budget per subnet (32, docs/SECURITY.md), and from N = 50 on
 * the bootstrap nodes refused most of the swarm. Torn down in every outcome (NetLab removes its namespaces, and everything in them).
 */
export async function namespaces(): Promise<Network> {
  const { NetLab } = await import('../test/helpers/netns.ts');
  const lab: NetLab = await NetLab.create();
  try {
    const shaper = await lab.shaper();
    const segment = await lab.segment('swarm');
    const started: Worker[] = [];
    const hosts: Netns[] = [];
    return {
      name: 'netns',
      shaper,
      links: `one namespace per process on one bridge, ${SHAPE_TEXT} on what each namespace sends, by ${shaper === 'netem' ? 'tc netem' : 'the TAP link emulator (no sch_netem in this kernel)'}`,
      async workers(count) {
        for (let i = 0; i < count; i++) {
          const ns = await lab.namespace(`w${i}`);
          hosts.push(ns);
          const address = swarmAddress(i);
          await segment.attach(ns, `${address}/16`, { shape: SHAPE });
          const child = lab.spawn(ns, process.execPath, nodeArgs, { stdio: ipcStdio });
          started.push(new Worker(i, address, child));
        }
        await Promise.all(started.map((w) => w.ready));
        return started;
      },
      async close() {
        await Promise.all(started.splice(0).map((w) => w.close()));
        await lab.teardown();
      },
    };
  } catch (err) {
    await lab.teardown();
    throw err;
  }
}
