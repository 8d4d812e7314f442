/**
 * `trustix demo`: the README's story, live on 127.0.0.1, without Nix. It starts a bootstrap node, the
 * four builders (mercury, venus, saturn, mars) and the user's node, all real Trustix nodes talking
 * libp2p; the builders publish synthesised builds (node/demo/builds.ts), saturn lying about one; the
 * user's node hears of the logs over gossip, follows and syncs them, and its vote and substituter
 * answer as Nix would see them. Each step is told as it happens, one line each, tagged `[network]`,
 * `[sync]`, `[vote]`, `[challenge]`..., then the node keeps running (dashboard, CLI) until the signal
 * aborts. Every node is stopped and the temporary directory removed, however the demo ends.
 *
 * This module is the run: its options, the story's steps in order and the teardown. The steps themselves
 * are in network-steps.ts and verdict-steps.ts, the nodes they start in nodes.ts.
 */
import '../runtime/promise-with-resolvers.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TrustixNode } from '../assembly/trustix-node.ts';
import { parseDeciderSpec } from '../vote/decider.ts';
import {
  BUILDERS,
  type BuilderName,
  demoScenario,
  MAX_DEMO_BUILDS,
  MIN_DEMO_BUILDS,
  writeBinaryCache,
} from './builds.ts';
import { discover, publish, sync } from './network-steps.ts';
import { checkPortFree, DemoNodes, FAST, LOOPBACK_P2P, loopbackAddress, USER_NAME } from './nodes.ts';
import type { DemoStage } from './stage.ts';
import { challenge, VOTE, vote } from './verdict-steps.ts';
import { aborted, isAbort, type WaitContext } from './waits.ts';

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

class Demo implements DemoStage {
  private readonly out: (line: string) => void;
  readonly signal: AbortSignal | undefined;
  readonly ctx: WaitContext;
  readonly dir: string;
  private readonly count: number;
  private readonly port: number;
  private readonly nodes: DemoNodes;
  readonly cleanups: (() => void)[] = [];
  dashboard: string | undefined;

  constructor(options: DemoOptions, dir: string, count: number, port: number) {
    this.out = options.out;
    this.signal = options.signal;
    this.ctx = { signal: options.signal, timeoutMs: options.stepTimeoutMs ?? 60_000 };
    this.dir = dir;
    this.count = count;
    this.port = port;
    this.nodes = new DemoNodes(dir, options.signal, (tag, text) => this.say(tag, text));
  }

  say(tag: string, text: string): void {
    this.out(`[${tag}] ${text}`);
  }

  peerName(peerId: string): string {
    return this.nodes.peerName(peerId);
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

    const boot = await this.nodes.start('bootstrap', { role: 'bootstrap', http: false, p2p: LOOPBACK_P2P });
    const bootAddr = loopbackAddress(boot);
    this.say('network', `bootstrap node listening on ${bootAddr}`);
    const p2p = { ...LOOPBACK_P2P, bootstrap: [bootAddr] };

    const builders = new Map<BuilderName, TrustixNode>();
    for (const name of BUILDERS) {
      const node = await this.nodes.start(name, { ...FAST, http: false, p2p });
      builders.set(name, node);
      this.say('network', `builder ${name.padEnd(7)} up; its log's key: ${node.keys.log.vkey}`);
    }
    await publish(this, scenario, builders);

    const user = await this.startUser(p2p, cache, saturnCache);
    await discover(this, user, builders);
    for (const [name, b] of builders) await user.followed.follow(b.keys.log.vkey, { name });
    this.say('vote', `you follow ${BUILDERS.join(', ')}; your vote: "${VOTE}"`);
    this.say('vote', '  (a path is accepted when at least 3 of the 4 logs publish the same output for it)');
    await sync(this, user, builders, scenario);
    await vote(this, user, scenario);
    await challenge(this, user);

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
    await this.nodes.stop();
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

  private async startUser(
    p2p: typeof LOOPBACK_P2P & { bootstrap: string[] },
    cache: string,
    saturnCache: string,
  ): Promise<TrustixNode> {
    const user = await this.nodes.start(USER_NAME, {
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

  requestSignal(): AbortSignal {
    const timeout = AbortSignal.timeout(this.ctx.timeoutMs);
    return this.signal === undefined ? timeout : AbortSignal.any([this.signal, timeout]);
  }
}
