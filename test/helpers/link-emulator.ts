/**
 * A link emulator in user space, for kernels without sch_netem (tc netem): latency, jitter, loss, a rate
 * and a bounded queue on links between lab namespaces (test/helpers/netns.ts), made of TAP devices.
 *
 * Run as a program inside a lab namespace of its own (`node --import tsx test/helpers/link-emulator.ts`),
 * it takes one JSON command a line on stdin and answers one JSON line on stdout:
 * - `{"op":"pair","a":"t0a","b":"t0b","ab":SHAPE,"ba":SHAPE}` opens two TAP devices `a` and `b` in its
 *   namespace (open /dev/net/tun, ioctl TUNSETIFF with IFF_TAP | IFF_NO_PI, through koffi) and forwards
 *   every Ethernet frame one sends to the other, each direction shaped by its SHAPE; answers `{"ok":true}`.
 *   The lab then moves each TAP into the namespace it belongs to (`ip link set t0a netns X name eth0`):
 *   the open file stays bound to the device.
 * - `{"op":"stats"}` answers the frames forwarded and dropped per direction, and the CPU time used.
 * SHAPE is `{"delayMs":40,"jitterMs":10,"loss":0.01,"limit":1000,"rateBytesPerSecond":125000}` (loss a
 * probability, limit in frames, rate optional).
 *
 * The TAPs are not persistent: they vanish with the process. The process ends when its stdin closes (the
 * lab's teardown, or the death of the process that started it, whatever its cause) and on SIGTERM, so a
 * crashed test leaves no device behind. It ends with SIGKILL on itself: the reads of the TAPs block in
 * libuv's thread pool, which a normal exit would wait for forever.
 */

import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, read, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** How one direction of a link treats the frames that enter it. */
export interface LinkShape {
  /** Added one-way delay. */
  readonly delayMs: number;
  /** The delay varies uniformly within ± this. */
  readonly jitterMs?: number;
  /** Probability of a frame being dropped (0.01: 1 %). */
  readonly loss?: number;
  /** Frames the direction holds at most (drop-tail beyond, as a router's buffer); netem's default, 1000. */
  readonly limit?: number;
  /**
   * The link's rate, in bytes a second (netem's `rate`): a frame leaves once those ahead of it have,
   * taking its size over the rate, then travels the delay. Default: no limit.
   */
  readonly rateBytesPerSecond?: number;
}

/** Counters of one direction. */
export interface DirectionStats {
  readonly forwarded: number;
  readonly lost: number;
  readonly queueDrops: number;
  readonly writeErrors: number;
}

export interface EmulatorStats {
  readonly pairs: Record<string, { ab: DirectionStats; ba: DirectionStats }>;
  /** CPU time of the emulator process since it started (user + system). */
  readonly cpuMs: number;
  readonly uptimeMs: number;
}

const TUNSETIFF = 0x400454ca;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
/** sizeof(struct ifreq) on Linux. */
const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;
/** Larger than any frame a TAP hands out without IFF_VNET_HDR (MTU 1500 + header; jumbo frames fit). */
const FRAME_MAX = 65_536;
const DEFAULT_LIMIT = 1000;

/** One direction of a link: frames from `from` to `to`, in order, each due at its own time. */
class Direction {
  private readonly queue: { frame: Buffer; due: number }[] = [];
  private lastDue = 0;
  /** When the last frame's last byte is sent, at the link's rate. */
  private lastSent = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly stats = { forwarded: 0, lost: 0, queueDrops: 0, writeErrors: 0 };

  constructor(
    private readonly to: number,
    private readonly shape: LinkShape,
  ) {}

  enter(frame: Buffer): void {
    if (Math.random() < (this.shape.loss ?? 0)) {
      this.stats.lost++;
      return;
    }
    if (this.queue.length >= (this.shape.limit ?? DEFAULT_LIMIT)) {
      this.stats.queueDrops++;
      return;
    }
    const jitter = this.shape.jitterMs ?? 0;
    const delay = this.shape.delayMs + (jitter > 0 ? (Math.random() * 2 - 1) * jitter : 0);
    // Frames leave in the order they came: a frame is never due before the one ahead of it. netem's
    // jitter reorders (each packet gets its own delay), but real paths rarely reorder, and a TCP that
    // sees reordering as loss would measure the emulator rather than the protocol. The cost: under a
    // burst, frames behind a late one wait for it (delay is then max(own, previous)).
    const now = performance.now();
    const rate = this.shape.rateBytesPerSecond;
    // Serialised at the rate: a frame starts once the one ahead has been sent (a slow uplink's queue).
    const sent = rate === undefined ? now : Math.max(now, this.lastSent) + (frame.length * 1000) / rate;
    this.lastSent = sent;
    const due = Math.max(sent + delay, this.lastDue);
    this.lastDue = due;
    this.queue.push({ frame, due });
    if (this.queue.length === 1) this.schedule();
  }

  private schedule(): void {
    const head = this.queue[0];
    if (head === undefined) return;
    this.timer = setTimeout(() => this.release(), Math.max(0, Math.ceil(head.due - performance.now())));
  }

  private release(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now) {
      const { frame } = this.queue.shift()!;
      try {
        writeSync(this.to, frame);
        this.stats.forwarded++;
      } catch {
        // The TAP is down (EIO) or gone: a frame lost, as on a cable unplugged.
        this.stats.writeErrors++;
      }
    }
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/** Opens a TAP device named `name` in this process's namespace; its file descriptor. */
function openTap(
  ioctl: (fd: number, request: number, type: string, arg: Buffer) => number,
  name: string,
): number {
  if (Buffer.byteLength(name) >= IFNAMSIZ) throw new Error(`TAP name too long: ${name}`);
  const fd = openSync('/dev/net/tun', 'r+');
  const ifr = Buffer.alloc(IFREQ_SIZE);
  ifr.write(name, 0, 'latin1');
  ifr.writeUInt16LE(IFF_TAP | IFF_NO_PI, IFNAMSIZ);
  if (ioctl(fd, TUNSETIFF, 'uint8_t *', ifr) !== 0) {
    closeSync(fd);
    throw new Error(`TUNSETIFF ${name} failed`);
  }
  return fd;
}

/** Reads frames from `fd` forever (a blocking read in the thread pool), handing each to `onFrame`. */
function pump(fd: number, onFrame: (frame: Buffer) => void): void {
  const buffer = Buffer.allocUnsafe(FRAME_MAX);
  const next = () =>
    read(fd, buffer, 0, FRAME_MAX, null, (err, n) => {
      if (err) return; // The device is gone: nothing more comes.
      const frame = Buffer.from(buffer.subarray(0, n));
      next();
      onFrame(frame);
    });
  next();
}

async function main(): Promise<void> {
  const die = () => process.kill(process.pid, 'SIGKILL');
  process.once('SIGTERM', die);
  process.stdin.once('end', die);
  process.stdin.once('close', die);
  const koffi = (await import('koffi')).default;
  const ioctl = koffi.load('libc.so.6').func('int ioctl(int fd, unsigned long request, ...)') as (
    fd: number,
    request: number,
    type: string,
    arg: Buffer,
  ) => number;
  const pairs = new Map<string, { ab: Direction; ba: Direction }>();
  const started = performance.now();
  const answer = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    try {
      const command = JSON.parse(line) as
        | { op: 'pair'; a: string; b: string; ab: LinkShape; ba: LinkShape }
        | { op: 'stats' };
      if (command.op === 'pair') {
        if (pairs.size >= MAX_PAIRS) throw new Error(`at most ${MAX_PAIRS} links per emulator`);
        const a = openTap(ioctl, command.a);
        const b = openTap(ioctl, command.b);
        const pair = { ab: new Direction(b, command.ab), ba: new Direction(a, command.ba) };
        pairs.set(`${command.a}-${command.b}`, pair);
        pump(a, (frame) => pair.ab.enter(frame));
        pump(b, (frame) => pair.ba.enter(frame));
        answer({ ok: true });
      } else if (command.op === 'stats') {
        const cpu = process.cpuUsage();
        answer({
          ok: true,
          stats: {
            pairs: Object.fromEntries([...pairs].map(([k, p]) => [k, { ab: p.ab.stats, ba: p.ba.stats }])),
            cpuMs: (cpu.user + cpu.system) / 1000,
            uptimeMs: performance.now() - started,
          } satisfies EmulatorStats,
        });
      } else answer({ ok: false, error: `unknown op in ${line}` });
    } catch (err) {
      answer({ ok: false, error: String(err) });
    }
  }
  die();
}

/** The parent's side: commands to a running emulator, one at a time, in order. */
export class LinkEmulator {
  private readonly waiting: ((line: string) => void)[] = [];
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.waiting.shift()?.(line));
    child.once('exit', (code, signal) => {
      for (const reply of this.waiting.splice(0))
        reply(JSON.stringify({ ok: false, error: `link emulator exited (${code ?? signal})` }));
    });
  }

  /** Two TAPs `a` and `b` in the emulator's namespace, joined: `ab` shapes a -> b, `ba` b -> a. */
  async pair(a: string, b: string, ab: LinkShape, ba: LinkShape): Promise<void> {
    await this.command({ op: 'pair', a, b, ab, ba });
  }

  async stats(): Promise<EmulatorStats> {
    return ((await this.command({ op: 'stats' })) as { stats: EmulatorStats }).stats;
  }

  /** The emulator's process id (what the lab kills at teardown). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private command(command: object): Promise<unknown> {
    const result = this.tail.then(
      () =>
        new Promise<unknown>((resolve, reject) => {
          if (this.child.exitCode !== null || this.child.signalCode !== null)
            return reject(new Error('link emulator has exited'));
          this.waiting.push((line) => {
            const reply = JSON.parse(line) as { ok: boolean; error?: string };
            if (reply.ok) resolve(reply);
            else reject(new Error(`link emulator: ${reply.error}`));
          });
          this.child.stdin!.write(`${JSON.stringify(command)}\n`);
        }),
    );
    this.tail = result.catch(() => {});
    return result;
  }
}

/**
 * libuv's thread pool size in the emulator: every TAP's blocking read holds a thread (two per pair), and
 * the pool's other work (stdin is a pipe, not in the pool) needs a few. libuv makes them at first use.
 */
export const EMULATOR_THREADS = 256;
/** Pairs one emulator serves at most, so that a read never waits for a free thread. */
const MAX_PAIRS = (EMULATOR_THREADS - 4) / 2;

if (process.argv[1] === import.meta.filename) await main();
