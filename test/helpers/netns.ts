/**
 * A small Internet in Linux network namespaces, for tests that need more than loopback: hosts, switched
 * segments (a bridge in a namespace of its own), NAT routers (nftables masquerade, inbound dropped), links
 * with latency, jitter and loss (`shape`: tc netem where the kernel has it, else the TAP link emulator of
 * test/helpers/link-emulator.ts), loss alone (nftables), and processes run inside a namespace with `ip netns exec`.
 *
 * Nothing is created in the host's own namespace: both ends of every veth are made directly inside lab
 * namespaces, so deleting the namespaces removes every link, bridge, route and rule with them. Names
 * carry a per-run prefix (`txlab-<pid>-<random>-`), so parallel runs never collide, and a new lab deletes
 * what a crashed run (its pid gone) left behind. teardown() kills every process the lab started, by PID,
 * then deletes the namespaces; it runs from t.teardown (every outcome) and, as a last resort, on exit.
 *
 * Namespaces are IPv4-only unless made with `{ ipv6: true }`: then IPv6 is on with router advertisements,
 * autoconfiguration and duplicate address detection off, so no packet leaves unasked and addresses are
 * usable at once. An IPv6 NAT router (`natRouter(..., { family: 'ip6' })`) masquerades with NAT66, as
 * home routers of providers without prefix delegation do; its public side may use 3fff::/20, the
 * documentation prefix of RFC 9637 (never routed), which libp2p does not call private.
 *
 * Needs root and iproute2 (`ip`), plus nftables (`nft`) for NAT routers and `tc` for netem:
 * `netnsUnavailable()` says why a test must skip. Shaped links without netem need /dev/net/tun (and
 * koffi, a dependency); the emulator is one process per lab, killed at teardown like the others, and
 * its TAPs vanish with it (docs/SCALE.md gives its CPU cost: it is on the data path).
 */
import { type ChildProcess, execFile, execFileSync, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EMULATOR_THREADS, LinkEmulator, type LinkShape } from './link-emulator.ts';

export type { LinkShape } from './link-emulator.ts';

const run = promisify(execFile);
const PREFIX = 'txlab-';
const KILL_GRACE_MS = 3_000;
const EMULATOR = join(import.meta.dirname, 'link-emulator.ts');
/** What the lab's addresses are drawn from, per nftables family (NetLab.outsidePackets counts the rest). */
const LAB_RANGES = {
  ip: '10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, 224.0.0.0/4, 255.255.255.255',
  ip6: 'fc00::/7, fe80::/10, 3fff::/20, ff00::/8',
} as const;

/**
 * Where the system's own tools are. The lab runs `ip`, `nft`, `tc` and `sysctl` by absolute path from
 * these, never through $PATH: `npm test` puts node_modules/.bin first on $PATH, and ava's dependency
 * @vercel/nft installs a `nft` there (Node File Trace) that takes `nft -f -` for a file name, prints an
 * error and exits 0. A lab that ran it got NAT routers with no rules at all (no masquerade: the homes
 * could reach nothing), silently, in `npm test` only.
 */
const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

/** The absolute path of a system tool (searched in SYSTEM_DIRS only), or undefined. */
export function systemTool(name: string): string | undefined {
  for (const dir of SYSTEM_DIRS) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {}
  }
  return undefined;
}

/** A system tool's absolute path; throws when it is not installed. */
function tool(name: string): string {
  const path = systemTool(name);
  if (path === undefined) throw new Error(`\`${name}\` is not installed in ${SYSTEM_DIRS.join(', ')}`);
  return path;
}

/** A command as the lab runs it: a bare name is a system tool (absolute path), anything else as given. */
function resolveCommand(command: string): string {
  return command.includes('/') ? command : tool(command);
}

/** Why namespace tests cannot run here (undefined: they can). */
export function netnsUnavailable(needs: readonly ('nft' | 'tc')[] = []): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root (run as root, as CI does)';
  for (const command of ['ip', 'sysctl', ...needs])
    if (systemTool(command) === undefined)
      return `\`${command}\` is missing (apt-get install iproute2 nftables; .ci/run does)`;
  return undefined;
}

/** A network namespace of the lab. */
export interface Netns {
  readonly name: string;
  /** Runs a command inside the namespace; its stdout. Rejects with the command's stderr. */
  exec(command: string, args: readonly string[]): Promise<string>;
}

/** A switched segment: a bridge `br0` in a namespace of its own, hosts attached by veth. */
export interface Segment {
  readonly ns: Netns;
  /**
   * Connects `host` with a new interface (eth0, eth1... in the host) with address `cidr`; with
   * `gateway`, the host's default route goes through it; with `shape`, what the host sends is delayed
   * and dropped by it (see NetLab.shaper). Returns the host's interface name.
   */
  attach(host: Netns, cidr: string, options?: { gateway?: string; shape?: LinkShape }): Promise<string>;
}

/** A byte and packet count of an interface. */
export interface InterfaceCounters {
  readonly txPackets: number;
  readonly rxPackets: number;
}

/**
 * How links get latency, jitter and loss: tc netem on the veth pair, or the TAP link emulator
 * (test/helpers/link-emulator.ts) where the kernel has no sch_netem (this project's VM kernels).
 */
export type Shaper = 'netem' | 'tap';

export class NetLab {
  readonly prefix = `${PREFIX}${process.pid}-${randomBytes(2).toString('hex')}-`;
  private readonly namespaces: string[] = [];
  private shaperChoice: Promise<Shaper> | undefined;
  private emulator: Promise<LinkEmulator> | undefined;
  private taps = 0;
  private readonly children = new Set<ChildProcess>();
  private readonly ifCount = new Map<string, number>();
  private readonly onExit = () => this.teardownSync();
  private readonly cleanups: (() => Promise<unknown>)[] = [];
  /** The teardown, once begun. */
  private tearingDown: Promise<void> | undefined;

  /**
   * A lab; deletes namespaces left by runs whose process is gone. `shaper` forces how shaped links are
   * made (a test of the emulator itself); by default netem where the kernel has it, else the emulator.
   */
  static async create(options: { shaper?: Shaper } = {}): Promise<NetLab> {
    await removeStale();
    const lab = new NetLab();
    if (options.shaper !== undefined) lab.shaperChoice = Promise.resolve(options.shaper);
    process.once('exit', lab.onExit);
    return lab;
  }

  /**
   * How this lab shapes links: tc netem where the kernel has it (the first choice: in the kernel, no
   * process on the data path), else the TAP link emulator (costs CPU: every shaped frame crosses a
   * Node process; see docs/SCALE.md).
   */
  async shaper(): Promise<Shaper> {
    this.shaperChoice ??= this.netemAvailable().then((netem) => (netem ? 'netem' : 'tap'));
    return this.shaperChoice;
  }

  /** The link emulator's counters and CPU time (undefined: this lab started none). */
  async emulatorStats() {
    return this.emulator === undefined ? undefined : (await this.emulator).stats();
  }

  /**
   * A new namespace with loopback up and forwarding off. IPv6 is off (so that no router solicitation or
   * address detection puts packets on its links unasked) unless `ipv6`: then it is on, but without
   * router advertisements, autoconfiguration or duplicate address detection, for the same reason and so
   * that an address is usable as soon as it is added.
   */
  async namespace(label: string, options: { ipv6?: boolean } = {}): Promise<Netns> {
    const name = `${this.prefix}${label}`;
    await ip(['netns', 'add', name]);
    this.namespaces.push(name);
    const ns = netns(name);
    const settings = options.ipv6
      ? ['accept_ra=0', 'autoconf=0', 'accept_dad=0', 'dad_transmits=0', 'router_solicitations=0'].flatMap(
          (s) => [`net.ipv6.conf.all.${s}`, `net.ipv6.conf.default.${s}`],
        )
      : ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
    // Set before any link exists: `default` is what new interfaces (the veths made later) start with.
    await ns.exec('sysctl', ['-qw', ...settings]);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * A link between two namespaces, with addresses, up: a veth pair, or with `aShape` / `bShape` (what
   * `a` / `b` sends is delayed and dropped by it) a shaped link (see `shaper`).
   */
  async link(
    a: Netns,
    aCidr: string,
    b: Netns,
    bCidr: string,
    options: { aGateway?: string; bGateway?: string; aShape?: LinkShape; bShape?: LinkShape } = {},
  ): Promise<{ a: string; b: string }> {
    const aIf = this.nextIf(a);
    const bIf = this.nextIf(b);
    await this.wire(a, aIf, b, bIf, options.aShape, options.bShape);
    await up(a, aIf, aCidr, options.aGateway);
    await up(b, bIf, bCidr, options.bGateway);
    return { a: aIf, b: bIf };
  }

  /** A segment: a namespace holding bridge br0 (IPv6 on with `ipv6`, as in `namespace`). */
  async segment(label: string, options: { ipv6?: boolean } = {}): Promise<Segment> {
    const ns = await this.namespace(label, options);
    await ip(['-n', ns.name, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', ns.name, 'link', 'set', 'br0', 'up']);
    return {
      ns,
      attach: async (host, cidr, options = {}) => {
        const hostIf = this.nextIf(host);
        const port = this.nextIf(ns, 'p');
        await this.wire(host, hostIf, ns, port, options.shape);
        await ip(['-n', ns.name, 'link', 'set', port, 'master', 'br0', 'up']);
        await up(host, hostIf, cidr, options.gateway);
        return hostIf;
      },
    };
  }

  /**
   * A home NAT router: a namespace on `wan` (address `wanCidr`) and `lan` (address `lanCidr`, the LAN's
   * gateway), forwarding, masquerading the LAN behind its WAN address, and dropping every inbound flow
   * the LAN did not start (no port forwarding). With `family: 'ip6'` the same in IPv6 (NAT66; the
   * segments and hosts must have IPv6 on). Linux masquerade keeps a flow's source port when it is free
   * (endpoint-independent mapping) and accepts replies only from the address and port the flow went to.
   * Every rule counts its packets (`counter`), so a test can show where packets stopped.
   */
  async natRouter(
    label: string,
    wan: Segment,
    wanCidr: string,
    lan: Segment,
    lanCidr: string,
    options: { family?: 'ip' | 'ip6' } = {},
  ): Promise<{ ns: Netns; wanAddress: string }> {
    const family = options.family ?? 'ip';
    const ns = await this.namespace(label, { ipv6: family === 'ip6' });
    const wanIf = await wan.attach(ns, wanCidr);
    const lanIf = await lan.attach(ns, lanCidr);
    await ns.exec('sysctl', [
      '-qw',
      family === 'ip' ? 'net.ipv4.ip_forward=1' : 'net.ipv6.conf.all.forwarding=1',
    ]);
    const l4 = family === 'ip' ? 'ip protocol' : 'meta l4proto';
    const rules = [
      `table ${family} nat {`,
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      `    oifname "${wanIf}" counter masquerade`,
      '  }',
      '}',
      `table ${family} filter {`,
      // Counts what the LAN sends beyond the lab's ranges (nothing routes there: the count shows it was tried).
      '  chain prerouting {',
      '    type filter hook prerouting priority filter; policy accept;',
      `    iifname "${lanIf}" ${family} daddr != { ${LAB_RANGES[family]} } counter comment "outside"`,
      '  }',
      '  chain forward {',
      '    type filter hook forward priority filter; policy drop;',
      '    ct state established,related counter accept',
      // (ICMPv6 errors about a flow, such as Packet Too Big, are `related`; neighbour discovery is the router's own.)
      `    iifname "${lanIf}" oifname "${wanIf}" counter accept`,
      `    iifname "${wanIf}" counter drop`,
      '  }',
      '  chain input {',
      '    type filter hook input priority filter; policy accept;',
      '    ct state established,related accept',
      `    iifname "${wanIf}" ${l4} { tcp, udp } counter drop`,
      '  }',
      '}',
    ].join('\n');
    await nft(ns, rules);
    // A router without its rules would fail later and silently (nothing reaches the public side): check.
    const loaded = await this.ruleset(ns);
    if (!loaded.includes('masquerade') || !loaded.includes('policy drop'))
      throw new Error(`NAT router ${ns.name}: its nftables rules did not load:\n${loaded}`);
    return { ns, wanAddress: wanCidr.split('/')[0]! };
  }

  /**
   * Packets a NAT router's LAN sent to addresses outside the lab's ranges (private, link-local, multicast,
   * and for IPv6 the 3fff::/20 documentation prefix): e.g. a STUN request to a public server. Nothing
   * routes there, so they go nowhere; the count proves whether anything tried.
   */
  async outsidePackets(router: Netns): Promise<number> {
    const m = /counter packets (\d+) bytes \d+ comment "outside"/.exec(await this.ruleset(router));
    if (!m) throw new Error(`NAT router ${router.name}: no "outside" counter`);
    return Number(m[1]);
  }

  /**
   * Adds latency and jitter (tc netem) to what leaves an interface, e.g. `delay 40ms 10ms`. Throws when
   * the kernel lacks sch_netem (see `netemAvailable`).
   */
  async netem(ns: Netns, ifName: string, spec: string): Promise<void> {
    await ns.exec('tc', ['qdisc', 'add', 'dev', ifName, 'root', 'netem', ...spec.split(/\s+/)]);
  }

  /**
   * The two ends of a link, `aIf` in `a` and `bIf` in `b`, down and without addresses: a veth pair,
   * with netem on an end whose traffic is shaped; or, where the lab's shaper is the emulator, two TAPs
   * made in the emulator's namespace and moved (renamed) into `a` and `b`.
   */
  private async wire(
    a: Netns,
    aIf: string,
    b: Netns,
    bIf: string,
    aShape?: LinkShape,
    bShape?: LinkShape,
  ): Promise<void> {
    const shaped = aShape !== undefined || bShape !== undefined;
    if (!shaped || (await this.shaper()) === 'netem') {
      await ip(['link', 'add', aIf, 'netns', a.name, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name]);
      if (aShape) await this.netem(a, aIf, netemSpec(aShape));
      if (bShape) await this.netem(b, bIf, netemSpec(bShape));
      return;
    }
    const emulator = await this.startEmulator();
    const n = this.taps++;
    const [aTap, bTap] = [`t${n}a`, `t${n}b`];
    await emulator.pair(aTap, bTap, aShape ?? { delayMs: 0 }, bShape ?? { delayMs: 0 });
    const wireNs = `${this.prefix}wire`;
    await ip(['-n', wireNs, 'link', 'set', aTap, 'netns', a.name, 'name', aIf]);
    await ip(['-n', wireNs, 'link', 'set', bTap, 'netns', b.name, 'name', bIf]);
  }

  /**
   * The lab's link emulator, started once in a namespace of its own (`wire`), where it makes its TAPs.
   * It is one of the lab's processes (killed at teardown), and it ends by itself when its stdin closes,
   * i.e. when this process dies in any way: its TAPs vanish with it.
   */
  private startEmulator(): Promise<LinkEmulator> {
    this.emulator ??= this.namespace('wire').then(
      (ns) =>
        new LinkEmulator(
          this.spawn(ns, process.execPath, ['--import', 'tsx', EMULATOR], {
            stdio: ['pipe', 'pipe', 'inherit'],
            env: { ...process.env, UV_THREADPOOL_SIZE: String(EMULATOR_THREADS) },
          }),
        ),
    );
    return this.emulator;
  }

  /** Whether this kernel has tc netem (some VM kernels ship without sch_netem). */
  async netemAvailable(): Promise<boolean> {
    const a = await this.namespace('probe-a');
    const b = await this.namespace('probe-b');
    const { a: ifName } = await this.link(a, '10.255.255.1/30', b, '10.255.255.2/30');
    return this.netem(a, ifName, 'delay 1ms').then(
      () => true,
      () => false,
    );
  }

  /**
   * Drops `percent` % of the packets leaving an interface, at random (nftables `numgen random`): loss
   * without netem.
   */
  async loss(ns: Netns, ifName: string, percent: number): Promise<void> {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new RangeError('percent: 0..100');
    await nft(
      ns,
      [
        `table inet loss_${ifName} {`,
        '  chain output {',
        '    type filter hook output priority filter; policy accept;',
        `    oifname "${ifName}" numgen random mod 100 < ${percent} drop`,
        '  }',
        '}',
      ].join('\n'),
    );
  }

  /** The nftables ruleset of a namespace, as `nft list ruleset` prints it. */
  async ruleset(ns: Netns): Promise<string> {
    return ns.exec('nft', ['list', 'ruleset']);
  }

  /** Packet counters of an interface in a namespace. */
  async counters(ns: Netns, ifName: string): Promise<InterfaceCounters> {
    const { stdout } = await run(tool('ip'), ['-n', ns.name, '-s', '-j', 'link', 'show', 'dev', ifName]);
    const [info] = JSON.parse(stdout) as [{ stats64: { tx: { packets: number }; rx: { packets: number } } }];
    return { txPackets: info.stats64.tx.packets, rxPackets: info.stats64.rx.packets };
  }

  /** Starts a process inside a namespace (`ip netns exec` execs it: the PID is the process's own). */
  spawn(ns: Netns, command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    if (this.tearingDown !== undefined) throw new Error('lab torn down');
    const child = spawn(tool('ip'), ['netns', 'exec', ns.name, resolveCommand(command), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...options,
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs `cleanup` at teardown, after the processes are gone (e.g. removing their data directories). */
  onTeardown(cleanup: () => Promise<unknown>): void {
    this.cleanups.push(cleanup);
  }

  /**
   * Kills every process the lab started (TERM, then KILL after 3 s), runs the registered cleanups,
   * then deletes every namespace.
   */
  /** Removes everything the lab made; a second call (a signal's during the first) waits for the same work. */
  teardown(): Promise<void> {
    this.tearingDown ??= (async () => {
      process.removeListener('exit', this.onExit);
      await Promise.all([...this.children].map(stopChild));
      for (const cleanup of this.cleanups.splice(0)) await cleanup().catch(() => {});
      for (const name of this.namespaces.splice(0).reverse())
        await ip(['netns', 'del', name]).catch(() => {});
    })();
    return this.tearingDown;
  }

  private teardownSync(): void {
    for (const child of this.children) if (child.pid !== undefined) tryKill(child.pid, 'SIGKILL');
    for (const name of this.namespaces.splice(0))
      try {
        execFileSync(tool('ip'), ['netns', 'del', name], { stdio: 'ignore' });
      } catch {}
  }

  private nextIf(ns: Netns, base = 'eth'): string {
    const key = `${ns.name}/${base}`;
    const n = this.ifCount.get(key) ?? 0;
    this.ifCount.set(key, n + 1);
    return `${base}${n}`;
  }
}

function netns(name: string): Netns {
  return {
    name,
    exec: async (command, args) =>
      (await run(tool('ip'), ['netns', 'exec', name, resolveCommand(command), ...args])).stdout,
  };
}

/** A shape as tc netem's arguments. (netem's jitter reorders packets; the emulator keeps their order.) */
function netemSpec(shape: LinkShape): string {
  const parts = [`delay ${shape.delayMs}ms`];
  if (shape.jitterMs) parts[0] += ` ${shape.jitterMs}ms`;
  if (shape.loss) parts.push(`loss ${shape.loss * 100}%`);
  if (shape.limit) parts.push(`limit ${shape.limit}`);
  if (shape.rateBytesPerSecond) parts.push(`rate ${shape.rateBytesPerSecond * 8}bit`);
  return parts.join(' ');
}

async function ip(args: readonly string[]): Promise<void> {
  await run(tool('ip'), [...args]);
}

async function up(ns: Netns, ifName: string, cidr: string, gateway?: string): Promise<void> {
  await ip(['-n', ns.name, 'addr', 'add', cidr, 'dev', ifName]);
  await ip(['-n', ns.name, 'link', 'set', ifName, 'up']);
  if (gateway !== undefined) await ip(['-n', ns.name, 'route', 'add', 'default', 'via', gateway]);
}

async function nft(ns: Netns, rules: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(tool('ip'), ['netns', 'exec', ns.name, tool('nft'), '-f', '-'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft in ${ns.name}: ${err}`))));
    child.stdin!.end(rules);
  });
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {}
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  tryKill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => tryKill(child.pid!, 'SIGKILL'), KILL_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Deletes lab namespaces whose creating process is gone (a crashed or killed run). */
async function removeStale(): Promise<void> {
  let names: string[];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^txlab-(\d+)-/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      await ip(['netns', 'del', name]).catch(() => {});
    }
  }
}
