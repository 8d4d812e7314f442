/**
 * The operations of the control socket besides `submit` (node/control/submit-server.ts): what `trustix follow`,
 * `unfollow`, `logs`, `peers`, `evidence` and `status` ask the running node. Each takes the parsed
 * request and answers plain JSON; bad arguments throw typed errors, which go back to the client.
 */
import { MalformedError } from '../../protocol/errors.ts';
import type { Evidence } from '../../protocol/evidence.ts';
import { parseLogKey } from '../../protocol/keys.ts';
import { parseHashPart, parseStorePath } from '../../protocol/store-path.ts';
import { NoVoteError } from '../errors.ts';
import type { CheckpointMonitor } from '../monitor/checkpoint-monitor.ts';
import { MAX_SEEN_PAGE } from '../monitor/log-listing.ts';
import type { TrustixLibp2p } from '../network/libp2p-services.ts';
import type { LightLogs } from '../network/light-logs.ts';
import { connectionKind, reachabilityOf } from '../network/reachability.ts';
import { challengeAll, challengePaths, checkPathList } from '../stats/challenge.ts';
import { challengeDiff } from '../stats/challenge-diff.ts';
import type { ReproStats } from '../stats/repro-stats.ts';
import type { FollowedLogs } from '../store/followed-logs.ts';
import type { LogStore } from '../store/log-store.ts';
import type { Follower } from '../sync/follower.ts';
import type { UpstreamCaches } from '../upstream/upstream-caches.ts';
import { type Decisions, decisionJson } from '../vote/decisions.ts';
import type { ControlOp } from './submit-server.ts';

const LOG_ID = /^[0-9a-f]{64}$/;
/** Logs seen but not followed in one `logs` answer by default. */
export const DEFAULT_SEEN_PAGE = 100;

function text(request: Record<string, unknown>, field: string, optional = false): string | undefined {
  const v = request[field];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 1024)
    throw new MalformedError('control request', `${field} must be a non-empty string`);
  return v;
}

function evidenceJson(e: Evidence) {
  return {
    vkey: e.vkey,
    sizes: [e.a.size, e.b.size],
    document: new TextDecoder().decode(e.bytes),
  };
}

/**
 * What the control operations reach of the node: its parts, as the running node exposes them. A getter of a
 * part the node does not run (a bootstrap node has no own log) throws.
 */
export interface ControlledNode {
  /** A bootstrap node has no vote: its vote's operations are refused. */
  readonly role: 'node' | 'bootstrap';
  readonly ownLog: LogStore;
  readonly libp2p: TrustixLibp2p | undefined;
  readonly followed: FollowedLogs;
  readonly follower: Follower | undefined;
  readonly light: LightLogs | undefined;
  readonly monitor: CheckpointMonitor;
  readonly decisions: Decisions;
  readonly storeDir: string;
  readonly stats: ReproStats;
  readonly upstreams: UpstreamCaches;
}

/** The control operations of `node`. */
export function controlOps(node: ControlledNode): Record<string, ControlOp> {
  // The vote's operations, refused plainly on a bootstrap node (which has none).
  const voting = (what: string) => {
    if (node.role === 'bootstrap') throw new NoVoteError(what);
  };
  return {
    async status() {
      const own = tryGet(() => node.ownLog);
      const libp2p = node.libp2p;
      return {
        ...(own ? { log: { logId: own.logId, vkey: own.key.vkey, size: own.size } } : {}),
        ...(libp2p
          ? {
              peerId: libp2p.peerId.toString(),
              addresses: libp2p.getMultiaddrs().map(String),
              connections: libp2p.getConnections().length,
            }
          : {}),
        followed: node.followed.list().length,
      };
    },

    async follow(request) {
      voting('follow logs');
      const weight = request['weight'];
      if (weight !== undefined && typeof weight !== 'number')
        throw new MalformedError('control request', 'weight must be a number');
      const name = text(request, 'name', true);
      const key = parseLogKey(text(request, 'log')!);
      const own = tryGet(() => node.ownLog);
      if (own !== undefined && key.logId === own.logId)
        throw new MalformedError(
          'control request',
          'that is this node’s own log: it is always held, no need to follow it',
        );
      const light = request['light'];
      if (light !== undefined && typeof light !== 'boolean')
        throw new MalformedError('control request', 'light must be a boolean');
      const { log, added } = await node.followed.follow(key, {
        ...(name !== undefined ? { name } : {}),
        ...(weight !== undefined ? { weight } : {}),
        ...(light !== undefined ? { light } : {}),
      });
      return {
        added,
        logId: log.logId,
        vkey: log.vkey,
        name: log.name,
        weight: log.weight,
        mode: log.light ? 'light' : 'full',
      };
    },

    async unfollow(request) {
      voting('unfollow logs');
      const log = await node.followed.unfollow(text(request, 'log')!);
      return log === undefined ? { removed: false } : { removed: true, logId: log.logId, name: log.name };
    },

    /**
     * `{after?, limit?}`: the own and followed logs in full, then a page of the logs seen but not followed
     * (by log ID after `after`, at most `limit`, default 100): anyone can make keys, so that list can be
     * long (docs/SECURITY.md, "Keyless peers").
     */
    async logs(request) {
      const after = text(request, 'after', true);
      if (after !== undefined && !LOG_ID.test(after))
        throw new MalformedError('control request', 'after must be a log ID (64 hex digits)');
      const limit = request['limit'] ?? DEFAULT_SEEN_PAGE;
      if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_SEEN_PAGE)
        throw new MalformedError(
          'control request',
          `limit must be a whole number from 1 to ${MAX_SEEN_PAGE}`,
        );
      const own = tryGet(() => node.ownLog);
      const followed = node.followed.list();
      const exclude = new Set([...followed.map((f) => f.logId), ...(own ? [own.logId] : [])]);
      const page = await node.monitor.seen({ ...(after ? { after } : {}), limit, exclude });
      return {
        own: own ? { logId: own.logId, vkey: own.key.vkey, size: own.size } : null,
        followed: await Promise.all(
          followed.map(async (f) => {
            const status = node.follower?.status(f.logId) ??
              node.light?.status(f.logId) ?? {
                logId: f.logId,
                vkey: f.vkey,
                name: f.name,
                weight: f.weight,
                mode: f.light ? 'light' : 'full',
              };
            // A witness quorum and where it stands (docs/CLI.md, `trustix logs`).
            const witnesses = await node.monitor.quorumStatus(f.logId);
            return witnesses === undefined ? status : { ...status, witnesses };
          }),
        ),
        seen: page.logs.map((m) => ({ logId: m.logId, vkey: m.vkey, size: m.size, forked: m.forked })),
        seenTotal: page.total,
        seenNext: page.next ?? null,
      };
    },

    async peers() {
      const libp2p = node.libp2p;
      if (libp2p === undefined) return { peers: [] };
      return {
        peerId: libp2p.peerId.toString(),
        reachability: reachabilityOf(libp2p),
        peers: libp2p.getConnections().map((c) => ({
          peerId: c.remotePeer.toString(),
          address: c.remoteAddr.toString(),
          kind: connectionKind(c),
          direction: c.direction,
          openedAt: c.timeline.open,
        })),
      };
    },

    /** `{path}`: a store path, or the hash part of one. */
    async decide(request) {
      voting('decide about store paths');
      const path = text(request, 'path')!;
      const decision = path.startsWith('/')
        ? await node.decisions.decide(parseStorePath(path, node.storeDir).hashPart, path)
        : await node.decisions.decide(parseHashPart(path));
      const totalWeight = node.followed.list().reduce((w, f) => w + f.weight, 0);
      // Rounded like the weights (at most 6 decimals): a sum of decimals must not print 0.30000000000000004.
      return { path, ...decisionJson(decision), totalWeight: Math.round(totalWeight * 1e6) / 1e6 };
    },

    /** `{paths?, closure?, after?, limit?}`: named paths (and closure), or a page of the whole challenge. */
    async challenge(request) {
      voting('challenge store paths');
      const { paths, closure, after, limit } = request;
      if (closure !== undefined && typeof closure !== 'boolean')
        throw new MalformedError('control request', 'closure must be a boolean');
      if (paths !== undefined)
        return {
          ...(await challengePaths(node.stats.views, checkPathList(paths), {
            closure: closure === true,
            storeDir: node.storeDir,
          })),
        };
      if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit)))
        throw new MalformedError('control request', 'limit must be an integer');
      return {
        ...(await challengeAll(node.stats.views, {
          ...(after !== undefined ? { after: text(request, 'after')! } : {}),
          ...(limit !== undefined ? { limit } : {}),
        })),
      };
    },

    /** `{hashPart}`: the file-level comparison of two differing NARs of a path (`challenge --diff`). */
    async 'challenge-diff'(request) {
      voting('compare builds of a path');
      const hashPart = parseHashPart(text(request, 'hashPart')!);
      const d = await challengeDiff(node.stats.views, node.upstreams, hashPart);
      return {
        a: d.a,
        b: d.b,
        identical: d.diff.identical,
        truncated: d.diff.truncated,
        differences: d.diff.differences,
        text: d.text,
      };
    },

    async evidence() {
      return { evidence: (await node.monitor.evidence()).map(evidenceJson) };
    },
  };
}

function tryGet<T>(get: () => T): T | undefined {
  try {
    return get();
  } catch {
    return undefined;
  }
}
