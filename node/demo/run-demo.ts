/**
 * `trustix demo`: the README's story, live on 127.0.0.1, without Nix. It starts a bootstrap node, the
 * four builders (mercury, venus, saturn, mars) and the user's node, all real Trustix nodes talking
 * libp2p; the builders publish synthesised builds (node/demo/builds.ts), saturn lying about one; the
 * user's node hears of the logs over gossip, follows and syncs them, and its vote and substituter
 * answer as Nix would see them. Each step is told as it happens, one line each, tagged `[network]`,
 * `[sync]`, `[vote]`, `[challenge]`..., then the node keeps running (dashboard, CLI) until the signal
 * aborts. Every node is stopped and the temporary directory removed, however the demo ends.
 */
import '../runtime/promise-with-resolvers.ts';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { verifyingKey } from '../../protocol/ed25519.ts';
import { parseNarinfo } from '../../protocol/narinfo.ts';
import { narinfoFingerprint, narinfoSignedBy } from '../../protocol/narinfo-signature.ts';
import { formatSha256 } from '../../protocol/nix-hash.ts';
import { DemoFailedError } from '../errors.ts';
import type { CheckpointEvent } from '../monitor/checkpoint-verdict.ts';
import { submit } from '../socket/submit-client.js';
import { challengeAll } from '../stats/challenge.ts';
import { challengeDiff } from '../stats/challenge-diff.ts';
import { reproducibilityLine } from '../stats/repro-rate.ts';
import { initDataDir } from '../store/data-dir.ts';
import type { SyncProgress } from '../sync/log-sync.ts';
import { TrustixNode, type TrustixNodeInit } from '../trustix-node.ts';
import { parseDeciderSpec } from '../vote/decider.ts';
import type { PathDecision } from '../vote/decisions.ts';
import {
  BUILDERS,
  type BuilderName,
  type DemoScenario,
  demoScenario,
  MAX_DEMO_BUILDS,
  MIN_DEMO_BUILDS,
  writeBinaryCache,
} from './builds.ts';
import { agreement, list, refusal, seconds } from './narration.ts';
import { aborted, isAbort, until, type WaitContext, within } from './waits.ts';

export interface DemoOptions {
  /** Builds to synthesise (MIN_DEMO_BUILDS..MAX_DEMO_BUILDS). Default 300. */
  readonly entries?: number;
  /** Receives every line the demo prints (no trailing newline, no colour). */
  readonly out: (line: string) => void;
  /**
   * Stops the demo, at any step. Without one, the demo stops by itself once it has shown everything;
   * with one, it keeps the nodes running until the signal aborts.
   */
  readonly signal?: AbortSignal;
  /** Where the demo's temporary directory is made. Default the system's (os.tmpdir()). */
  readonly baseDir?: string;
  /** HTTP port of the user's node on 127.0.0.1 (substituter, dashboard, API). Default 0: any free port. */
  readonly httpPort?: number;
  /** Keep the temporary directory (data directories, binary caches) at the end. Default false. */
  readonly keep?: boolean;
  /** Time limit of each step that waits for the network, in ms. Default 60,000. */
  readonly stepTimeoutMs?: number;
}

export interface DemoResult {
  /** The demo's temporary directory (removed unless `keep`). */
  readonly dir: string;
  readonly kept: boolean;
  /** The dashboard's URL, once the user's node was up. */
  readonly dashboard: string | undefined;
  /** False when the signal stopped the demo before it had shown everything. */
  readonly completed: boolean;
}

export const DEFAULT_DEMO_ENTRIES = 300;
const VOTE = 'threshold 3/4';
/** Logs that must agree under VOTE. */
const VOTES_NEEDED = 3;
const USER_NAME = 'my-node';

/** The settings libp2p needs on loopback: allow-listed 127/8, gossip IP whitelist, fast re-dial. */
const LOOPBACK_P2P = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  allowList: ['/ip4/127.0.0.0/ipcidr/8'],
  whitelistIps: ['127.0.0.1'],
  redial: { interval: 100, maxInterval: 1000 },
} as const;

/** A demo wants to see things happen within seconds, not minutes. */
const FAST: Partial<TrustixNodeInit> = {
  sequencer: { intervalMs: 20 },
  gossip: { republishIntervalMs: 1000 },
  follower: { retryDelayMs: 200, maxRetryDelayMs: 1000 },
};

/** Runs the demo; resolves once every node is stopped (and the directory removed unless `keep`). */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const count = options.entries ?? DEFAULT_DEMO_ENTRIES;
  if (!Number.isSafeInteger(count) || count < MIN_DEMO_BUILDS || count > MAX_DEMO_BUILDS)
    throw new RangeError(`--entries must be an integer from ${MIN_DEMO_BUILDS} to ${MAX_DEMO_BUILDS}`);
  const port = options.httpPort ?? 0;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535)
    throw new RangeError('the HTTP port must be an integer from 0 to 65535');
  if (port !== 0) await checkPortFree(port);
  const dir = await mkdtemp(join(options.baseDir ?? tmpdir(), 'trustix-demo-'));
  const demo = new Demo(options, dir, count, port);
  let completed = false;
  try {
    await demo.run();
    completed = true;
  } catch (err) {
    if (!isAbort(err, options.signal)) throw err;
  } finally {
    await demo.stop(options.keep === true);
  }
  return { dir, kept: options.keep === true, dashboard: demo.dashboard, completed };
}

class Demo {
  private readonly out: (line: string) => void;
  private readonly signal: AbortSignal | undefined;
  private readonly ctx: WaitContext;
  private readonly dir: string;
  private readonly count: number;
  private readonly port: number;
  /** Started nodes, in start order. */
  private readonly nodes: { name: string; node: TrustixNode }[] = [];
  private readonly cleanups: (() => void)[] = [];
  /** PeerId -> what the demo calls the node. */
  private readonly peerNames = new Map<string, string>();
  dashboard: string | undefined;

  constructor(options: DemoOptions, dir: string, count: number, port: number) {
    this.out = options.out;
    this.signal = options.signal;
    this.ctx = { signal: options.signal, timeoutMs: options.stepTimeoutMs ?? 60_000 };
    this.dir = dir;
    this.count = count;
    this.port = port;
  }

  private say(tag: string, text: string): void {
    this.out(`[${tag}] ${text}`);
  }

  private peerName(peerId: string): string {
    return this.peerNames.get(peerId) ?? `peer ...${peerId.slice(-6)}`;
  }

  async run(): Promise<void> {
    this.say('demo', 'Trustix, live on 127.0.0.1: four builders, a bootstrap node and your own node.');
    this.say('demo', 'Nothing leaves this machine and no Nix is needed: the builds are synthesised.');
    this.say('demo', `Working in ${this.dir}`);

    const scenario = await demoScenario(this.count);
    const cache = join(this.dir, 'cache');
    const saturnCache = join(this.dir, 'saturn-cache');
    await writeBinaryCache(
      cache,
      scenario.builds.map((build) => ({ build, output: build.honest })),
    );
    await writeBinaryCache(saturnCache, [scenario.lie]);
    this.say(
      'builds',
      `synthesised ${this.count} builds (glibc, bash, hello, openssl, ...): small outputs, real NARs and NAR hashes`,
    );
    this.say('builds', `binary cache of the honest outputs: ${pathToFileURL(cache).href}`);
    this.say(
      'builds',
      `saturn's own cache, with its tampered ${scenario.lie.build.name}: ${pathToFileURL(saturnCache).href}`,
    );

    const boot = await this.start('bootstrap', { role: 'bootstrap', http: false, p2p: LOOPBACK_P2P });
    const bootAddr = loopbackAddress(boot);
    this.say('network', `bootstrap node listening on ${bootAddr}`);
    const p2p = { ...LOOPBACK_P2P, bootstrap: [bootAddr] };

    const builders = new Map<BuilderName, TrustixNode>();
    for (const name of BUILDERS) {
      const node = await this.start(name, { ...FAST, http: false, p2p });
      builders.set(name, node);
      this.say('network', `builder ${name.padEnd(7)} up; its log's key: ${node.keys.log.vkey}`);
    }
    await this.publish(scenario, builders);

    const user = await this.startUser(p2p, cache, saturnCache);
    await this.discover(user, builders);
    for (const [name, b] of builders) await user.followed.follow(b.keys.log.vkey, { name });
    this.say('vote', `you follow ${BUILDERS.join(', ')}; your vote: "${VOTE}"`);
    this.say('vote', '  (a path is accepted when at least 3 of the 4 logs publish the same output for it)');
    await this.sync(user, builders, scenario);
    await this.vote(user, scenario);
    await this.challenge(user);

    const base = this.dashboard!;
    const lied = scenario.lie.build;
    this.say(
      'demo',
      `In short: saturn's tampered ${lied.name} never reached you; one lying builder cannot get past your vote.`,
    );
    this.say('dashboard', `${base}  (logs, reproducibility matrix, mismatches)`);
    this.say('try', 'While the demo runs, in another terminal:');
    this.say('try', `  curl ${base}${scenario.showcase.unanimous.hashPart}.narinfo`);
    this.say('try', `  npx trustix decide ${lied.storePath} --data-dir ${join(this.dir, USER_NAME)}`);
    this.say('try', `  npx trustix challenge --diff --data-dir ${join(this.dir, USER_NAME)}`);
    if (this.signal === undefined) return;
    this.say('demo', 'Press Ctrl-C to stop.');
    await aborted(this.signal);
  }

  /** Stops every node, newest first, and removes the directory unless `keep`. Never throws. */
  async stop(keep: boolean): Promise<void> {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    const nodes = this.nodes.splice(0).reverse();
    if (nodes.length > 0) this.say('demo', `stopping ${nodes.length} nodes...`);
    for (const { name, node } of nodes) {
      try {
        await node.stop();
      } catch (err) {
        this.say('demo', `stopping ${name} failed: ${(err as Error).message}`);
      }
    }
    if (keep) {
      this.say('demo', `all nodes stopped; kept ${this.dir}`);
      return;
    }
    try {
      await rm(this.dir, { recursive: true, force: true });
      this.say('demo', `all nodes stopped; removed ${this.dir}`);
    } catch (err) {
      this.say('demo', `all nodes stopped; could not remove ${this.dir}: ${(err as Error).message}`);
    }
  }

  private async start(name: string, init: Omit<TrustixNodeInit, 'dataDir'>): Promise<TrustixNode> {
    this.signal?.throwIfAborted();
    const dataDir = join(this.dir, name);
    if (init.role !== 'bootstrap') await initDataDir(dataDir, { name });
    const node = new TrustixNode({ dataDir, ...init });
    await node.start();
    this.nodes.push({ name, node });
    const peer = node.libp2p?.peerId.toString();
    if (peer !== undefined)
      this.peerNames.set(
        peer,
        name === 'bootstrap' ? 'the bootstrap node' : name === USER_NAME ? 'your node' : name,
      );
    return node;
  }

  private async publish(
    scenario: DemoScenario,
    builders: ReadonlyMap<BuilderName, TrustixNode>,
  ): Promise<void> {
    for (const name of builders.keys()) {
      const entries = scenario.logs[name];
      // Through the control socket, as `trustix publish` does, in requests under its 1 MiB cap.
      const socket = join(this.dir, name, 'trustix.sock');
      for (let i = 0; i < entries.length; i += 500)
        await submit(
          socket,
          entries.slice(i, i + 500).map((entry) => ({ kind: 'entry' as const, entry })),
        );
    }
    await until(
      'the builders signing their logs',
      () => [...builders].every(([name, b]) => b.ownLog.size === scenario.logs[name].length),
      this.ctx,
    );
    const n = (name: BuilderName) => scenario.logs[name].length;
    const lie = scenario.lie.build.name;
    this.say('builders', `mercury published ${n('mercury')} builds (all of them)`);
    this.say('builders', `venus   published ${n('venus')} builds (all but the 2 newest)`);
    this.say('builders', `saturn  published ${n('saturn')} builds, one of them a lie: a tampered ${lie}`);
    this.say(
      'builders',
      `mars    published ${n('mars')} builds (still behind on the rest, ${lie} among them)`,
    );
  }

  private async startUser(
    p2p: typeof LOOPBACK_P2P & { bootstrap: string[] },
    cache: string,
    saturnCache: string,
  ): Promise<TrustixNode> {
    const user = await this.start(USER_NAME, {
      ...FAST,
      http: { host: '127.0.0.1', port: this.port },
      p2p,
      vote: [parseDeciderSpec(VOTE)],
      // Saturn's cache too: upstreams are not trusted, a narinfo is used only when the vote agrees.
      upstreams: [pathToFileURL(cache).href, pathToFileURL(saturnCache).href],
    });
    const { port } = user.httpAddress();
    this.dashboard = `http://127.0.0.1:${port}/`;
    this.say(
      'network',
      `your node is up (peer ${user.libp2p!.peerId.toString()}); it knows only the bootstrap node`,
    );
    return user;
  }

  /** Waits until the user's node heard of every builder's log over gossip, telling each as it comes. */
  private async discover(user: TrustixNode, builders: ReadonlyMap<BuilderName, TrustixNode>): Promise<void> {
    const names = new Map([...builders].map(([name, b]) => [b.ownLog.logId, { name, size: b.ownLog.size }]));
    const heard = new Set<string>();
    const tell = (logId: string, size: number, via: string) => {
      const b = names.get(logId);
      if (b === undefined || heard.has(logId) || size < b.size) return;
      heard.add(logId);
      this.say('network', `heard of ${b.name}'s log ${via}: ${size} entries, signed by ${b.name}`);
    };
    const onCheckpoint = (e: CustomEvent<CheckpointEvent>) => {
      const c = e.detail;
      tell(
        c.logId,
        c.checkpoint.size,
        `over gossip${c.from === undefined ? '' : ` from ${this.peerName(c.from)}`}`,
      );
    };
    user.monitor.addEventListener('checkpoint', onCheckpoint);
    this.cleanups.push(() => user.monitor.removeEventListener('checkpoint', onCheckpoint));
    const started = Date.now();
    await until(
      'hearing of the four logs over gossip',
      async () => {
        // Also from the monitor's table: a checkpoint may have come before the listener was added.
        for (const l of await user.monitor.logs()) tell(l.logId, l.size, 'over gossip');
        return heard.size === names.size;
      },
      this.ctx,
      100,
    );
    const peers = user.libp2p!.getConnections().length;
    this.say(
      'network',
      `all 4 logs discovered in ${seconds(started)}; your node is connected to ${peers} peers`,
    );
  }

  /** Waits until the user's node holds every log verified to its full size, telling the progress. */
  private async sync(
    user: TrustixNode,
    builders: ReadonlyMap<BuilderName, TrustixNode>,
    scenario: DemoScenario,
  ): Promise<void> {
    const follower = user.follower!;
    const nameOf = new Map([...builders].map(([name, b]) => [b.ownLog.logId, name]));
    const lastTold = new Map<string, number>();
    const onProgress = (e: CustomEvent<SyncProgress>) => {
      const p = e.detail;
      const name = nameOf.get(p.logId);
      const done = p.fromSize + p.verified;
      const now = Date.now();
      if (name === undefined || done >= p.targetSize || now - (lastTold.get(p.logId) ?? 0) < 500) return;
      lastTold.set(p.logId, now);
      this.say('sync', `${name}: ${done}/${p.targetSize} entries fetched and verified`);
    };
    follower.addEventListener('progress', onProgress);
    this.cleanups.push(() => follower.removeEventListener('progress', onProgress));
    const started = Date.now();
    const synced = new Set<BuilderName>();
    await until(
      'syncing the four logs',
      () => {
        for (const [name, b] of builders) {
          if (synced.has(name)) continue;
          const s = follower.status(b.ownLog.logId);
          if (s?.state === 'forked')
            throw new DemoFailedError(`${name}'s log is forked: ${s.error?.message ?? ''}`);
          if ((s?.verifiedSize ?? 0) < scenario.logs[name].length) continue;
          synced.add(name);
          const from =
            s!.sources.length === 0 ? '' : ` from ${list(s!.sources.map((p) => this.peerName(p)))}`;
          this.say(
            'sync',
            `${name}: synced, ${s!.verifiedSize} entries fetched${from}, each checked against ${name}'s signed root`,
          );
        }
        return synced.size === builders.size;
      },
      this.ctx,
    );
    this.say('sync', `all 4 logs synced and verified in ${seconds(started)}`);
    // The statistics (challenge, dashboard) index what was synced: wait until they hold all of it.
    await until(
      'indexing the synced logs',
      () =>
        user.stats.views
          .summary()
          .logs.every((l) => l.indexed === scenario.logs[l.name as BuilderName]?.length),
      this.ctx,
    );
    await within('indexing the synced logs', user.stats.idle(), this.ctx);
  }

  /** Asks the user's substituter what Nix would, and tells the vote behind each answer. */
  private async vote(user: TrustixNode, scenario: DemoScenario): Promise<void> {
    const { unanimous, withoutMars, onlyMercury } = scenario.showcase;
    this.say(
      'vote',
      "Nix asks your node's substituter for narinfos; it answers only what your vote accepts:",
    );
    for (const build of [unanimous, withoutMars, scenario.lie.build, onlyMercury]) {
      const url = `${this.dashboard}${build.hashPart}.narinfo`;
      const res = await within(
        'asking the substituter',
        fetch(url, { signal: this.requestSignal() }),
        this.ctx,
      );
      const body = new Uint8Array(await res.arrayBuffer());
      const decision = await user.decisions.decide(build.hashPart);
      if (res.status === 200) {
        this.say('vote', `served  (HTTP 200)  ${build.storePath}`);
        this.say('vote', `    ${agreement(decision, VOTE)}`);
        this.say('vote', `    ${await this.checkServed(user, body, decision)}`);
      } else {
        this.say('vote', `refused (HTTP ${res.status})  ${build.storePath}`);
        for (const line of refusal(decision, VOTE, VOTES_NEEDED)) this.say('vote', `    ${line}`);
      }
    }
  }

  /** Checks a served narinfo as Nix would (signature, then NAR hash and size); a line saying so. */
  private async checkServed(user: TrustixNode, body: Uint8Array, decision: PathDecision): Promise<string> {
    const info = parseNarinfo(body);
    const key = user.keys.cacheSecret;
    if (narinfoFingerprint(info) !== decision.fingerprint)
      throw new DemoFailedError(
        `the substituter served ${info.storePath} with a fingerprint the vote did not decide`,
      );
    if (!narinfoSignedBy(info, key.name, verifyingKey(key.publicKey)))
      throw new DemoFailedError(
        `the substituter's narinfo for ${info.storePath} is not signed by ${key.name}`,
      );
    const res = await within(
      'downloading a NAR',
      fetch(`${this.dashboard}${info.url}`, { signal: this.requestSignal() }),
      this.ctx,
    );
    const nar = new Uint8Array(await res.arrayBuffer());
    const hash = formatSha256(new Uint8Array(createHash('sha256').update(nar).digest()));
    if (res.status !== 200 || hash !== formatSha256(info.narHash) || nar.length !== info.narSize)
      throw new DemoFailedError(
        `the NAR served for ${info.storePath} does not match its narinfo (HTTP ${res.status})`,
      );
    return `narinfo signed by your key ${key.name}; its NAR (${nar.length} bytes) has the voted hash`;
  }

  /** Whole-log challenge, like `trustix challenge --diff`. */
  private async challenge(user: TrustixNode): Promise<void> {
    const { items, summary: s } = await challengeAll(user.stats.views);
    this.say(
      'challenge',
      `${s.analysed} store paths compared across the 4 logs (as \`trustix challenge\` does):`,
    );
    this.say('challenge', `  ${s.reproducible} identical wherever they were built`);
    this.say('challenge', `  ${s.mismatch} differ between builders`);
    this.say('challenge', `  ${s.inconclusive} inconclusive (only one builder has them)`);
    // The same rate, defined the same way, as the dashboard and `trustix challenge`.
    this.say('challenge', `  ${reproducibilityLine(s)}`);
    for (const item of items.filter((i) => i.verdict === 'mismatch')) {
      this.say('challenge', `${item.storePath ?? item.hashPart} differs:`);
      const width = Math.max(...item.logs.map((l) => l.log.length));
      for (const l of item.logs)
        this.say('challenge', `  ${`${l.log}:`.padEnd(width + 1)} ${l.narHashes.join(' and ')}`);
      if (item.silent.length > 0) this.say('challenge', `  (${item.silent.join(', ')}: not built)`);
      try {
        const d = await within(
          'comparing the NARs',
          challengeDiff(user.stats.views, user.upstreams, item.hashPart, { timeoutMs: this.ctx.timeoutMs }),
          this.ctx,
        );
        for (const line of d.text.trimEnd().split('\n')) this.say('challenge', `  ${line}`);
      } catch (err) {
        if (isAbort(err, this.signal)) throw err;
        this.say('challenge', `  (no file-by-file comparison: ${(err as Error).message})`);
      }
    }
  }

  private requestSignal(): AbortSignal {
    const timeout = AbortSignal.timeout(this.ctx.timeoutMs);
    return this.signal === undefined ? timeout : AbortSignal.any([this.signal, timeout]);
  }
}

/** Fails early, before minutes of setup, when the HTTP port asked for is taken. */
async function checkPortFree(port: number): Promise<void> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DemoFailedError(
      code === 'EADDRINUSE'
        ? `port ${port} on 127.0.0.1 is in use (a Trustix node?): choose another, or 0 for any free port`
        : `cannot listen on 127.0.0.1:${port}: ${(err as Error).message}`,
    );
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** The node's dialable loopback address (with `/p2p/<PeerId>`). */
function loopbackAddress(node: TrustixNode): string {
  const addr = node.libp2p?.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'));
  if (addr === undefined) throw new DemoFailedError('the bootstrap node has no loopback TCP address');
  return addr.toString();
}
