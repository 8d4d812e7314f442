/**
 * The JSON API under /api/v1/ (docs/guides/reproducibility.md "The JSON API"): what the dashboard and
 * scripts read. Read-only, GET and HEAD only, answers `application/json`, never cached. Query parameters
 * are checked strictly: an unknown or repeated parameter is a 400, so a typo is never silently ignored.
 *
 *   GET /api/v1/status                node, own log, network (as `trustix status`)
 *   GET /api/v1/logs?after=ID&limit=N own log, followed logs with health and statistics, a page of logs seen
 *   GET /api/v1/peers                 libp2p connections
 *   GET /api/v1/evidence              fork evidence held
 *   GET /api/v1/stats                 path verdict counts and per-log counts
 *   GET /api/v1/matrix                agreement between every pair of followed logs
 *   GET /api/v1/mismatches?after=H&limit=N&log=NAME&q=TEXT   a page of mismatching paths
 *   GET /api/v1/daily?days=N          the reproducibility rate over time
 *   GET /api/v1/paths/<hash32>        what each log says about a path, its verdict and the vote's decision
 */
import { MalformedError } from '../../protocol/errors.ts';
import { parseHashPart } from '../../protocol/store-path.ts';
import type { HttpRoutes, Route } from '../http/route.ts';
import type { ReproViews } from '../stats/repro-views.ts';
import { decisionJson, type PathDecision } from '../vote/decisions.ts';

const PREFIX = '/api/v1/';
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

/** The documents the control socket answers, by operation and arguments (node/control/control-ops.ts). */
export type ControlDocument = (
  op: 'status' | 'logs' | 'peers' | 'evidence',
  args?: Record<string, unknown>,
) => Promise<unknown>;

export interface ApiComponents {
  readonly views: ReproViews;
  decide(hashPart: string): Promise<PathDecision>;
  control: ControlDocument;
}

export class ApiRoutes implements HttpRoutes {
  private readonly components: ApiComponents;

  constructor(components: ApiComponents) {
    this.components = components;
  }

  readonly routes: readonly Route[] = [
    {
      name: 'api',
      paths: { prefix: PREFIX },
      query: true,
      handle: async (request) => {
        const body = await this.answer(request.path.slice(PREFIX.length), request.query);
        return body === undefined ? undefined : { headers: JSON_HEADERS, body: `${JSON.stringify(body)}\n` };
      },
    },
  ];

  private async answer(name: string, query: string | undefined): Promise<unknown> {
    const { views, control } = this.components;
    switch (name) {
      case 'status':
      case 'peers':
      case 'evidence':
        params(query, []);
        return control(name);
      case 'logs': {
        // Logs seen but not followed come in pages: anyone can make keys (docs/SECURITY.md).
        const p = params(query, ['after', 'limit']);
        const doc = (await control('logs', {
          ...(p.after !== undefined ? { after: p.after } : {}),
          ...(p.limit !== undefined ? { limit: integer(p.limit, 'limit', 1, 1000) } : {}),
        })) as Record<string, unknown>;
        return { ...doc, stats: views.summary().logs };
      }
      case 'stats':
        params(query, []);
        return views.summary();
      case 'matrix':
        params(query, []);
        return views.matrix();
      case 'daily': {
        const p = params(query, ['days']);
        return { days: views.daily(p.days === undefined ? undefined : integer(p.days, 'days', 1, 3650)) };
      }
      case 'mismatches': {
        const p = params(query, ['after', 'limit', 'log', 'q']);
        if (p.q !== undefined && p.q.length > 256)
          throw new MalformedError('q', 'longer than 256 characters');
        return views.mismatches({
          ...(p.after !== undefined ? { after: parseHashPart(p.after) } : {}),
          ...(p.limit !== undefined ? { limit: integer(p.limit, 'limit', 1, 500) } : {}),
          ...(p.log !== undefined ? { log: p.log } : {}),
          ...(p.q !== undefined && p.q !== '' ? { q: p.q } : {}),
        });
      }
      default: {
        if (!name.startsWith('paths/')) return undefined;
        params(query, []);
        const hashPart = parseHashPart(name.slice('paths/'.length));
        const [report, decision] = await Promise.all([
          views.path(hashPart),
          this.components.decide(hashPart),
        ]);
        return { ...report, decision: decisionJson(decision) };
      }
    }
  }
}

/** The query's parameters, only those `allowed`, each at most once. */
function params(query: string | undefined, allowed: readonly string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (query === undefined || query === '') return out;
  for (const [key, value] of new URLSearchParams(query)) {
    if (!allowed.includes(key))
      throw new MalformedError('query', `unknown parameter ${JSON.stringify(key.slice(0, 32))}`);
    if (out[key] !== undefined) throw new MalformedError('query', `parameter ${key} given twice`);
    out[key] = value;
  }
  return out;
}

function integer(text: string, what: string, min: number, max: number): number {
  if (!/^[0-9]{1,9}$/.test(text) || Number(text) < min || Number(text) > max)
    throw new MalformedError(what, `expected a whole number from ${min} to ${max}`);
  return Number(text);
}
