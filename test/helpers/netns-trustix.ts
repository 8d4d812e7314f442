/**
 * Drives Trustix nodes running in lab namespaces (test/helpers/netns-node.ts, one process each):
 * starts one and waits for its `started` line, then sends requests and awaits their answers.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadOrCreatePeerIdentity } from '../../node/network/peer-identity.ts';
import { tempDir } from './log-fixture.ts';
import type { NetLab, Netns } from './netns.ts';
import type { NetnsNodeSpec, NetnsRequest } from './netns-node.ts';

const SCRIPT = join(import.meta.dirname, 'netns-node.ts');

export interface NetnsNodeInfo {
  readonly peerId: string;
  readonly addrs: readonly string[];
  readonly logId?: string;
  readonly vkey?: string;
}

export interface NetnsNode {
  readonly info: NetnsNodeInfo;
  /** Sends a request; its result, or an error with the node's message. */
  request<T = unknown>(req: NetnsRequest): Promise<T>;
  /** The node's stderr so far (libp2p and Trustix logs when DEBUG is set). */
  stderr(): string;
}

/**
 * Starts a node in `ns`, with a fresh data directory (removed at the lab's teardown). TRUSTIX_LOCAL_ONLY
 * stays on: lab addresses are private ranges, which a local-only node may dial.
 */
export async function startNetnsNode(
  lab: NetLab,
  ns: Netns,
  spec: Omit<NetnsNodeSpec, 'dataDir'> & { dataDir?: string },
  env: NodeJS.ProcessEnv = {},
): Promise<NetnsNode> {
  const dataDir = spec.dataDir ?? (await labDataDir(lab, spec.name ?? spec.role));
  // TRUSTIX_LAB_NODE_FLAGS: Node flags for lab nodes (e.g. `--cpu-prof`, which NODE_OPTIONS refuses).
  const flags = (process.env['TRUSTIX_LAB_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
  const child = lab.spawn(
    ns,
    process.execPath,
    [...flags, '--import', 'tsx', SCRIPT, JSON.stringify({ ...spec, dataDir })],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        TRUSTIX_LOCAL_ONLY: '1',
        // TRUSTIX_LAB_DEBUG: the DEBUG namespaces of lab nodes only (not of the test process).
        ...(process.env['TRUSTIX_LAB_DEBUG'] !== undefined && { DEBUG: process.env['TRUSTIX_LAB_DEBUG'] }),
        ...env,
      },
    },
  );
  let err = '';
  // TRUSTIX_LAB_LOG_DIR keeps each lab node's whole stderr in a file there (debugging a failed run).
  const logDir = process.env['TRUSTIX_LAB_LOG_DIR'];
  const logFile =
    logDir === undefined
      ? undefined
      : createWriteStream(join(logDir, `${lab.prefix}${spec.name ?? spec.role}.log`));
  child.stderr!.on('data', (d) => {
    err = `${err}${d}`.slice(-200_000);
    logFile?.write(d);
  });
  child.once('exit', () => logFile?.end());
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let started: (info: NetnsNodeInfo) => void;
  let failed: (e: Error) => void;
  const ready = new Promise<NetnsNodeInfo>((resolve, reject) => {
    started = resolve;
    failed = reject;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let msg: { event?: string; id?: number; ok?: boolean; result?: unknown; error?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (msg.event === 'started') started(msg as unknown as NetnsNodeInfo);
    else if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.ok) p?.resolve(msg.result);
      else p?.reject(new Error(`${spec.name ?? spec.role}: ${msg.error}`));
    }
  });
  child.once('exit', (code, signal) => {
    const e = new Error(`${spec.name ?? spec.role} exited (${code ?? signal}): ${err.slice(-4000)}`);
    failed(e);
    for (const p of pending.values()) p.reject(e);
  });
  const info = await ready;
  let next = 1;
  return {
    info,
    stderr: () => err,
    request: <T>(req: NetnsRequest) =>
      new Promise<T>((resolve, reject) => {
        const id = next++;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
      }),
  };
}

/** A data directory removed at the lab's teardown. */
export async function labDataDir(lab: NetLab, name: string): Promise<string> {
  const dir = await tempDir(`trustix-netns-${name}-`);
  lab.onTeardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A data directory whose libp2p identity exists already: the node's PeerId is known before it starts,
 * so nodes that must dial it can start at the same time.
 */
export async function labIdentity(lab: NetLab, name: string): Promise<{ dataDir: string; peerId: string }> {
  const dataDir = await labDataDir(lab, name);
  const { peerId } = await loadOrCreatePeerIdentity(dataDir);
  return { dataDir, peerId: peerId.toString() };
}

/** The node's address on a lab interface (not loopback), with `/p2p/<PeerId>`. */
export function labAddress(node: NetnsNode, prefix: string): string {
  const addr = node.info.addrs.find((a) => a.startsWith(`/ip4/${prefix}`) && a.includes('/tcp/'));
  if (addr === undefined) throw new Error(`no address in ${prefix}* among ${node.info.addrs.join(' ')}`);
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${node.info.peerId}`;
}
