/**
 * The TAP link emulator (test/helpers/link-emulator.ts) that gives lab links latency, jitter and loss on
 * kernels without sch_netem: two namespaces joined by an emulated link of 40 ms ± 10 ms each way, probed
 * with UDP from processes inside them. Only lower bounds on time: they hold on a loaded machine. The lab
 * is forced to the emulator, so this tests it even where the kernel has netem.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import test from 'ava';
import { NetLab, type Netns, netnsUnavailable, systemTool } from './helpers/netns.ts';

const unavailable = netnsUnavailable();
if (unavailable !== undefined) console.log(`link emulator tests skipped: ${unavailable}`);
const nsTest = unavailable === undefined ? test.serial : test.serial.skip;

const IP = systemTool('ip') ?? 'ip';
const PORT = 7007;
const SHAPE = { delayMs: 40, jitterMs: 10 };

/** A UDP echo server inside `ns` (answers each datagram with itself); resolves once bound. */
async function echoServer(lab: NetLab, ns: Netns): Promise<void> {
  const child = lab.spawn(ns, process.execPath, [
    '-e',
    `const s = require('node:dgram').createSocket('udp4');
     s.on('message', (m, r) => s.send(m, r.port, r.address));
     s.bind(${PORT}, () => console.log('ready'));`,
  ]);
  await lineFrom(child.stdout!);
}

/**
 * From `ns`, `count` UDP probes to `host`, one after the other (each waits for its echo, or 1 s): the
 * round-trip times of those answered, in ms, and how many were not.
 */
async function probe(lab: NetLab, ns: Netns, host: string, count: number) {
  const child = lab.spawn(ns, process.execPath, [
    '-e',
    `const s = require('node:dgram').createSocket('udp4');
     const rtts = []; let lost = 0;
     const one = (i) => new Promise((resolve) => {
       const t0 = performance.now();
       const timer = setTimeout(() => { s.off('message', on); lost++; resolve(); }, 1000);
       const on = (m) => { if (m.readUInt32BE(0) !== i) return; clearTimeout(timer); s.off('message', on);
         rtts.push(performance.now() - t0); resolve(); };
       s.on('message', on);
       const b = Buffer.alloc(64); b.writeUInt32BE(i, 0); s.send(b, ${PORT}, '${host}');
     });
     (async () => { for (let i = 0; i < ${count}; i++) await one(i);
       console.log(JSON.stringify({ rtts, lost })); s.close(); })();`,
  ]);
  return JSON.parse(await lineFrom(child.stdout!)) as { rtts: number[]; lost: number };
}

/** From `ns`, `count` UDP datagrams to `host` port PORT + 1, one a millisecond; resolves when sent. */
async function burst(lab: NetLab, ns: Netns, host: string, count: number): Promise<void> {
  const child = lab.spawn(ns, process.execPath, [
    '-e',
    `const s = require('node:dgram').createSocket('udp4'); let i = 0;
     const next = () => { if (i++ === ${count}) { console.log('sent'); return s.close(); }
       s.send(Buffer.alloc(64), ${PORT + 1}, '${host}', () => setTimeout(next, 1)); };
     next();`,
  ]);
  await lineFrom(child.stdout!);
}

function lineFrom(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stream });
    const ended = () => reject(new Error('the process ended without a line'));
    lines.once('close', ended);
    lines.once('line', (line) => {
      lines.off('close', ended);
      lines.close();
      resolve(line);
    });
  });
}

function labDevices(): string[] {
  const names = execFileSync(IP, ['netns', 'list'], { encoding: 'utf8' });
  const links = execFileSync(IP, ['-br', 'link'], { encoding: 'utf8' });
  return [...names.split('\n'), ...links.split('\n')].filter((l) => /txlab-|^t\d+[ab]\b/.test(l));
}

nsTest(
  'an emulated 40 ms +- 10 ms link delays each direction: every round trip takes at least 60 ms',
  async (t) => {
    const lab = await NetLab.create({ shaper: 'tap' });
    t.teardown(() => lab.teardown());
    const a = await lab.namespace('a');
    const b = await lab.namespace('b');
    const c = await lab.namespace('c');
    await lab.link(a, '10.60.0.1/24', b, '10.60.0.2/24', { aShape: SHAPE, bShape: SHAPE });
    // The baseline of the same run: a plain veth pair from a to c.
    await lab.link(a, '10.61.0.1/24', c, '10.61.0.2/24');
    await echoServer(lab, b);
    await echoServer(lab, c);

    const plain = await probe(lab, a, '10.61.0.2', 30);
    const shaped = await probe(lab, a, '10.60.0.2', 30);
    t.log(
      `RTT median: plain veth ${median(plain.rtts).toFixed(2)} ms, emulated link ${median(shaped.rtts).toFixed(1)} ms`,
    );
    t.is(shaped.lost, 0);
    // Each way waits at least delay - jitter (30 ms); on average 40 ms (70 is 7 standard deviations of
    // the mean of 30 below 80): bounds that a loaded machine only makes safer.
    t.true(Math.min(...shaped.rtts) >= 60, `min RTT ${Math.min(...shaped.rtts)} ms`);
    t.true(mean(shaped.rtts) >= 70, `mean RTT ${mean(shaped.rtts)} ms`);
    const stats = (await lab.emulatorStats())!;
    const pair = Object.values(stats.pairs)[0]!;
    t.true(pair.ab.forwarded >= 30 && pair.ba.forwarded >= 30);
  },
);

nsTest('an emulated link drops the given share of frames, and a full queue drops the tail', async (t) => {
  const lab = await NetLab.create({ shaper: 'tap' });
  t.teardown(() => lab.teardown());
  const a = await lab.namespace('a');
  const b = await lab.namespace('b');
  await lab.link(a, '10.60.0.1/24', b, '10.60.0.2/24', { aShape: { delayMs: 5, loss: 0.05 } });
  const received = lab.spawn(
    b,
    process.execPath,
    [
      '-e',
      `const s = require('node:dgram').createSocket('udp4'); let n = 0;
     s.on('message', () => n++); s.bind(${PORT + 1}, () => console.log('ready'));
     process.stdin.on('data', () => console.log(n));`,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const lines = createInterface({ input: received.stdout! })[Symbol.asyncIterator]();
  await lines.next();
  const SENT = 2000;
  await burst(lab, a, '10.60.0.2', SENT);
  const stats = (await lab.emulatorStats())!;
  const ab = Object.values(stats.pairs)[0]!.ab;
  // The 2000 datagrams (and an ARP exchange) entered a -> b; 5 % were dropped at random: expected 100,
  // standard deviation ~10. 40..200 is 6 deviations on either side: it never flakes.
  t.log(
    `a -> b: ${ab.forwarded} forwarded, ${ab.lost} lost at random, ${ab.queueDrops} dropped by a full queue`,
  );
  t.true(ab.lost >= 40 && ab.lost <= 200, `lost ${ab.lost}`);
  // What the emulator dropped never arrived (waiting for the last forwarded frames to land first). The
  // frames that were no datagram (the ARP exchange) may be among those lost: at most that many more.
  for (;;) {
    received.stdin!.write('?\n');
    const n = Number((await lines.next()).value);
    if (n + ab.lost + ab.queueDrops >= SENT) {
      const end = Object.values((await lab.emulatorStats())!.pairs)[0]!.ab;
      const others = Math.max(0, end.forwarded + end.lost + end.queueDrops - SENT);
      t.true(n <= SENT - end.lost + others, `received ${n} (${others} frames that were no datagram)`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  // A queue of 10 frames behind a 1 s delay: a burst of 200 frames overflows it as long as the sender
  // manages more than 10 a second. ARP first: until c's reply is back, a's kernel holds the datagrams
  // (and drops most of them itself), then lets them go at the pace of its neighbour queue, which on a
  // loaded machine once never filled the emulator's queue (0 drops in CI).
  const c = await lab.namespace('c');
  await lab.link(a, '10.62.0.1/24', c, '10.62.0.2/24', { aShape: { delayMs: 1000, limit: 10 } });
  lab.spawn(c, process.execPath, ['-e', `require('node:dgram').createSocket('udp4').bind(${PORT + 1})`]);
  const second = async () => Object.values((await lab.emulatorStats())!.pairs)[1]!;
  await burst(lab, a, '10.62.0.2', 1);
  // c's ARP reply crossed back (c -> a is not delayed): a knows c's address.
  while ((await second()).ba.forwarded === 0) await new Promise((resolve) => setTimeout(resolve, 50));
  await burst(lab, a, '10.62.0.2', 200);
  const full = (await second()).ab;
  t.true(full.queueDrops > 0, `queue drops ${full.queueDrops}`);
});

nsTest(
  'an emulated link with a rate lets frames out one after the other, each taking its size over the rate',
  async (t) => {
    const lab = await NetLab.create({ shaper: 'tap' });
    t.teardown(() => lab.teardown());
    const a = await lab.namespace('a');
    const b = await lab.namespace('b');
    const RATE = 5_000;
    await lab.link(a, '10.60.0.1/24', b, '10.60.0.2/24', {
      aShape: { delayMs: 1, rateBytesPerSecond: RATE },
    });
    const COUNT = 200;
    // b says when the COUNT-th datagram came (the wall clock, which the test process shares).
    const receiver = lab.spawn(b, process.execPath, [
      '-e',
      `const s = require('node:dgram').createSocket('udp4'); let n = 0;
     s.on('message', () => { if (++n === ${COUNT}) { console.log(Date.now()); s.close(); } });
     s.bind(${PORT + 1}, () => console.log('ready'));`,
    ]);
    const lines = createInterface({ input: receiver.stdout! })[Symbol.asyncIterator]();
    await lines.next();
    // One datagram first, so that a's kernel knows b's address (ARP) before the count starts.
    await burst(lab, a, '10.60.0.2', 1);
    const sent = Date.now();
    // One a millisecond, far above the rate.
    await burst(lab, a, '10.60.0.2', COUNT - 1);
    const spanMs = Number((await lines.next()).value) - sent;
    // Each frame: 64 bytes of data, 8 of UDP, 20 of IPv4, 14 of Ethernet; the COUNT - 1 of the burst take
    // at least their size over the rate (a lower bound: a loaded machine only makes it longer). Unshaped,
    // the burst takes ~0.2 s.
    const least = ((COUNT - 1) * (64 + 8 + 20 + 14) * 1000) / RATE;
    t.log(
      `${COUNT - 1} frames of 106 bytes at ${RATE} bytes/s: the last came ${spanMs} ms after the first left (>= ${least.toFixed(0)})`,
    );
    t.true(spanMs >= least, `span ${spanMs} ms`);
    t.is(Object.values((await lab.emulatorStats())!.pairs)[0]!.ab.queueDrops, 0);
  },
);

nsTest(
  'teardown, and the death of the process that made the lab, leave no TAP, namespace or emulator',
  async (t) => {
    const lab = await NetLab.create({ shaper: 'tap' });
    const a = await lab.namespace('a');
    const b = await lab.namespace('b');
    await lab.link(a, '10.60.0.1/24', b, '10.60.0.2/24', { aShape: SHAPE });
    t.true(labDevices().some((l) => l.includes(lab.prefix)));
    await lab.teardown();
    t.deepEqual(
      labDevices().filter((l) => l.includes(lab.prefix) || /^t\d+[ab]\b/.test(l)),
      [],
    );

    // A process that builds a lab with an emulated link, then is killed with SIGKILL (no teardown runs).
    const crashing = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { NetLab } from ${JSON.stringify(new URL('./helpers/netns.ts', import.meta.url).pathname)};
       const lab = await NetLab.create({ shaper: 'tap' });
       const a = await lab.namespace('a'); const b = await lab.namespace('b');
       await lab.link(a, '10.60.0.1/24', b, '10.60.0.2/24', { aShape: { delayMs: 40 } });
       console.log(JSON.stringify({ prefix: lab.prefix, tap: (await a.exec('ip', ['-br', 'link'])).includes('eth0') }));
       setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const { prefix, tap } = JSON.parse(await lineFrom(crashing.stdout!)) as { prefix: string; tap: boolean };
    t.true(tap);
    const emulatorPid = Number(
      execFileSync(IP, ['netns', 'pids', `${prefix}wire`], { encoding: 'utf8' })
        .trim()
        .split('\n')[0],
    );
    t.true(emulatorPid > 0);
    crashing.kill('SIGKILL');
    // The emulator sees its stdin close and ends; its TAPs go with it.
    while (alive(emulatorPid)) await new Promise((resolve) => setTimeout(resolve, 50));
    const aLinks = execFileSync(IP, ['-n', `${prefix}a`, '-br', 'link'], { encoding: 'utf8' });
    t.false(aLinks.includes('eth0'), aLinks);
    // The next lab deletes the namespaces left behind.
    const next = await NetLab.create();
    await next.teardown();
    t.deepEqual(
      labDevices().filter((l) => l.includes(prefix)),
      [],
    );
  },
);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function mean(values: readonly number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}
