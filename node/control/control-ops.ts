/**
 * The operations of the control socket besides `submit` (node/control/submit-server.ts): what `trustix follow`,
 * `unfollow`, `logs`, `peers`, `evidence` and `status` ask the running node. Each takes the parsed
 * request and answers plain JSON; bad arguments throw typed errors, which go back to the client.
 */
import { MalformedError } from '../../protocol/errors.ts';
import type { Evidence } from '../../protocol/evidence.ts';
import { parseLogKey } from '../../protocol/keys.ts';
import { parseHashPart, parseStorePath } from '../../protocol/store-path.ts';
import { connectionKind, reachabilityOf } from '../network/reachability.ts';
import { challengeAll, challengePaths, checkPathList } from '../stats/challenge.ts';
import { challengeDiff } from '../stats/challenge-diff.ts';
import type { TrustixNode } from '../trustix-node.ts';
import type { PathDecision } from '../vote/decisions.ts';
import type { ControlOp } from './submit-server.ts';

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

/** The control operations of `node`. */
export function controlOps(node: TrustixNode): Record<string, ControlOp> {
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
      const { log, added } = await node.followed.follow(key, {
        ...(name !== undefined ? { name } : {}),
        ...(weight !== undefined ? { weight } : {}),
      });
      return { added, logId: log.logId, vkey: log.vkey, name: log.name, weight: log.weight };
    },

    async unfollow(request) {
      const log = await node.followed.unfollow(text(request, 'log')!);
      return log === undefined ? { removed: false } : { removed: true, logId: log.logId, name: log.name };
    },

    async logs() {
      const own = tryGet(() => node.ownLog);
      const monitored = await node.monitor.logs();
      return {
        own: own ? { logId: own.logId, vkey: own.key.vkey, size: own.size } : null,
        followed:
          node.follower?.statuses() ??
          node.followed.list().map((f) => ({ logId: f.logId, vkey: f.vkey, name: f.name, weight: f.weight })),
        seen: monitored.map((m) => ({ logId: m.logId, vkey: m.vkey, size: m.size, forked: m.forked })),
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
      const path = text(request, 'path')!;
      const decision = path.startsWith('/')
        ? await node.decisions.decide(parseStorePath(path, node.storeDir).hashPart, path)
        : await node.decisions.decide(parseHashPart(path));
      return decisionJson(path, decision);
    },

    /** `{paths?, closure?, after?, limit?}`: named paths (and closure), or a page of the whole challenge. */
    async challenge(request) {
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

/** The JSON of a decision (documented in docs/CLI.md, `trustix decide --json`). */
function decisionJson(path: string, d: PathDecision) {
  return {
    path,
    decided: d.fingerprint !== undefined,
    storePath: d.storePath ?? null,
    fingerprint: d.fingerprint ?? null,
    decider: d.decider ?? null,
    agreeing: d.agreeing,
    mismatches: d.mismatches,
    misses: d.misses,
    abstentions: d.abstentions,
    tally: d.tally,
    reasons: d.reasons,
  };
}

function tryGet<T>(get: () => T): T | undefined {
  try {
    return get();
  } catch {
    return undefined;
  }
}
