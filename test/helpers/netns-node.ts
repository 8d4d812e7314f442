/**
 * A Trustix node in its own process, for tests in network namespaces (test/helpers/netns.ts runs it with
 * `ip netns exec`). Started with one JSON argument (NetnsNodeSpec); says `{"event":"started",...}` on
 * stdout, then answers JSON-line requests on stdin (`{"id":1,"cmd":"follow",...}`) with
 * `{"id":1,"ok":true,"result":...}`. Stops on SIGTERM or when stdin closes.
 */
import '../../node/runtime/promise-with-resolvers.ts';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Connection } from '@libp2p/interface';
import { TrustixNode, type TrustixNodeInit } from '../../node/assembly/trustix-node.ts';
import { reachabilityOf } from '../../node/network/reachability.ts';
import { submit } from '../../node/socket/submit-client.js';
import { initDataDir } from '../../node/store/data-dir.ts';
import { verifyLog } from '../../node/store/log-verifier.ts';
import { parseDeciderSpec } from '../../node/vote/decider.ts';

export interface NetnsNodeSpec {
  readonly dataDir: string;
  readonly role: 'node' | 'bootstrap';
  readonly name?: string;
  readonly p2p: NonNullable<Exclude<TrustixNodeInit['p2p'], false>>;
  readonly upstreams?: readonly string[];
  readonly vote?: readonly string[];
}

/** What a request may ask (see `handle`). */
export type NetnsRequest =
  | { cmd: 'publish'; entries: string[] }
  | { cmd: 'follow'; vkey: string; light?: boolean }
  | { cmd: 'lookups'; logId: string; size: number; hashParts: readonly string[]; timeoutMs: number }
  | { cmd: 'synced'; logId: string; size: number; timeoutMs: number }
  | { cmd: 'known'; logId: string; timeoutMs: number; size?: number }
  | { cmd: 'verify'; logId: string }
  | { cmd: 'narinfo'; hashPart: string }
  | { cmd: 'connections' }
  | { cmd: 'direct'; peer: string; timeoutMs: number }
  | { cmd: 'reachability' }
  | { cmd: 'reserved'; timeoutMs: number }
  | { cmd: 'stun' }
  | { cmd: 'cpu' };

/** What `stun` reports: the node's STUN responder (node/network/stun-responder.ts), if it runs one. */
export interface StunReport {
  readonly answered: number;
  readonly malformed: number;
  readonly limited: number;
  /** Where it answers, `host:port`. */
  readonly addresses: readonly string[];
}

/** One connection opened since start, as `connections` reports it. */
export interface ConnectionReport {
  readonly peer: string;
  readonly remoteAddr: string;
  /**
   * Through a relay (`/p2p-circuit` without `/webrtc`), else direct. A WebRTC connection's address names the
   * relay that signalled it (`<relay>/p2p-circuit/webrtc/p2p/<peer>`), but its data flows peer to peer.
   */
  readonly relayed: boolean;
  /** Under a relay's limits (libp2p's Connection.limits). */
  readonly limited: boolean;
  readonly direction: string;
  /** Still open when asked; else when it closed, in ms after it opened (a relayed one may close early). */
  readonly open: boolean;
  readonly closedAfterMs?: number;
}

const spec = JSON.parse(process.argv[2]!) as NetnsNodeSpec;
if (spec.role === 'node') await initDataDir(spec.dataDir, { name: spec.name ?? 'node' });
const node = new TrustixNode({
  dataDir: spec.dataDir,
  role: spec.role,
  http: spec.role === 'node' ? { host: '127.0.0.1', port: 0 } : false,
  p2p: spec.p2p,
  sequencer: { intervalMs: 20 },
  gossip: { republishIntervalMs: 1000 },
  follower: { retryDelayMs: 200, maxRetryDelayMs: 1000, syncJitterMs: 100 },
  ...(spec.upstreams && { upstreams: spec.upstreams }),
  ...(spec.vote && { vote: spec.vote.map(parseDeciderSpec) }),
});
await node.start();
const libp2p = node.libp2p!;
const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
say({
  event: 'started',
  peerId: libp2p.peerId.toString(),
  addrs: libp2p.getMultiaddrs().map(String),
  ...(spec.role === 'node' && { logId: node.ownLog.logId, vkey: node.keys.log.vkey }),
});

const report = (c: Connection): ConnectionReport => ({
  peer: c.remotePeer.toString(),
  remoteAddr: c.remoteAddr.toString(),
  relayed: c.remoteAddr.toString().includes('/p2p-circuit') && !c.remoteAddr.toString().includes('/webrtc'),
  limited: c.limits !== undefined,
  direction: c.direction,
  open: c.status === 'open',
  ...(c.timeline.close !== undefined && { closedAfterMs: c.timeline.close - c.timeline.open }),
});
// Those open now (made during start), then every one opened later; reported as they are when asked.
const opened: Connection[] = libp2p.getConnections();
libp2p.addEventListener('connection:open', (e) => opened.push(e.detail));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function handle(req: NetnsRequest): Promise<unknown> {
  switch (req.cmd) {
    case 'publish': {
      const target = node.ownLog.size + req.entries.length;
      for (let i = 0; i < req.entries.length; i += 1000)
        await submit(
          join(spec.dataDir, 'trustix.sock'),
          req.entries.slice(i, i + 1000).map((entry) => ({ kind: 'entry' as const, entry })),
        );
      while (node.ownLog.size < target) await sleep(20);
      return { size: node.ownLog.size };
    }
    case 'follow':
      await node.followed.follow(req.vkey, req.light === undefined ? {} : { light: req.light });
      return {};
    case 'lookups': {
      // A light log's lookups (docs/PROTOCOL.md "Lookups"), one at a time, once its checkpoint of `size`
      // is verified: each one's time, how many found entries, and the exchanges they took.
      const light = node.light!;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${req.logId} not verified to ${req.size} within ${req.timeoutMs} ms`)),
          req.timeoutMs,
        );
      });
      try {
        await Promise.race([light.whenVerified(req.logId, req.size), late]);
      } finally {
        clearTimeout(timer);
      }
      const before = light.lookupExchanges();
      const ms: number[] = [];
      let found = 0;
      for (const hashPart of req.hashParts) {
        const started = performance.now();
        const answer = await light.entries(req.logId, hashPart);
        ms.push(performance.now() - started);
        if (answer.kind === 'entries' && answer.entries.length > 0) found++;
      }
      return { ms, found, exchanges: light.lookupExchanges() - before };
    }
    case 'synced': {
      // Polled: the follower retries failed attempts by itself; its status is what a user sees.
      const deadline = Date.now() + req.timeoutMs;
      for (;;) {
        const s = node.follower!.status(req.logId);
        if (s?.state === 'forked') throw new Error(`log ${req.logId} is forked`);
        if ((s?.verifiedSize ?? 0) >= req.size) return { verifiedSize: s!.verifiedSize };
        if (Date.now() > deadline)
          throw new Error(`not verified to ${req.size} within ${req.timeoutMs} ms: ${JSON.stringify(s)}`);
        await sleep(50);
      }
    }
    case 'known': {
      // A signed checkpoint of the log of at least `size` entries (default: the first, which makes the log
      // leave `searching`) is known, from a provider or gossip, verified or not.
      const deadline = Date.now() + req.timeoutMs;
      for (;;) {
        const s = node.follower!.status(req.logId);
        if ((s?.size ?? 0) >= Math.max(1, req.size ?? 1)) return { size: s!.size };
        if (Date.now() > deadline)
          throw new Error(`no checkpoint of ${req.logId} within ${req.timeoutMs} ms`);
        await sleep(20);
      }
    }
    case 'verify': {
      const copy = node.follower!.get(req.logId);
      if (copy === undefined) throw new Error(`no copy of ${req.logId}`);
      const v = await verifyLog(copy);
      return { size: v.size, root: Buffer.from(copy.root).toString('hex') };
    }
    case 'narinfo': {
      const { host, port } = node.httpAddress();
      const res = await fetch(`http://${host}:${port}/${req.hashPart}.narinfo`);
      return { status: res.status, body: await res.text() };
    }
    case 'reachability':
      return reachabilityOf(libp2p);
    case 'reserved': {
      // Holds a relay reservation (re-made after losing its relay connection, as under loss and load).
      const deadline = Date.now() + req.timeoutMs;
      for (;;) {
        const reach = reachabilityOf(libp2p);
        if (reach.relays >= 1) return reach;
        if (Date.now() > deadline)
          throw new Error(`no relay reservation within ${req.timeoutMs} ms: ${reach.summary}`);
        await sleep(50);
      }
    }
    case 'direct': {
      // Resolves on the first open, unlimited WebRTC connection to the peer (already there, or when it opens).
      const isDirect = (c: Connection) =>
        c.remotePeer.toString() === req.peer &&
        c.status === 'open' &&
        c.limits === undefined &&
        c.remoteAddr.toString().includes('/webrtc');
      const found = libp2p.getConnections().find(isDirect);
      if (found) return report(found);
      return new Promise((resolve, reject) => {
        const onOpen = (e: CustomEvent<Connection>) => {
          if (!isDirect(e.detail)) return;
          clearTimeout(timer);
          libp2p.removeEventListener('connection:open', onOpen);
          resolve(report(e.detail));
        };
        const timer = setTimeout(() => {
          libp2p.removeEventListener('connection:open', onOpen);
          reject(new Error(`no direct WebRTC connection to ${req.peer} within ${req.timeoutMs} ms`));
        }, req.timeoutMs);
        libp2p.addEventListener('connection:open', onOpen);
      });
    }
    case 'stun': {
      const stun = libp2p.services.stun;
      if (stun === undefined) throw new Error('this node answers no STUN');
      const report: StunReport = {
        answered: stun.answered,
        malformed: stun.malformed,
        limited: stun.limited,
        addresses: stun.addresses(),
      };
      return report;
    }
    case 'connections':
      // Every connection opened since start: a relayed one may be closed by the time we ask.
      return opened.map(report);
    case 'cpu': {
      // CPU time of the process so far, in ms (user + system): what a benchmark's phase cost the node.
      const { user, system } = process.cpuUsage();
      return (user + system) / 1000;
    }
  }
}

let stopping: Promise<void> | undefined;
const stop = () => {
  stopping ??= node.stop().then(() => process.exit(0));
  return stopping;
};
process.once('SIGTERM', stop);
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const { id, ...req } = JSON.parse(line) as NetnsRequest & { id: number };
    handle(req).then(
      (result) => say({ id, ok: true, result }),
      (err: unknown) => say({ id, ok: false, error: String((err as Error)?.message ?? err) }),
    );
  })
  .once('close', stop);
