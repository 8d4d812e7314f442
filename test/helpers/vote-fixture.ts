/**
 * A user's vote and substituter over real logs, without the network: builder logs on real LevelDB
 * (openLogFixture), a user database that follows them, the decider chain, the upstream caches and the
 * substituter on a real HTTP server on 127.0.0.1. The user's copies of the logs are the builders'
 * stores themselves (a sync would copy them verbatim; tests of the sync live elsewhere).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HttpServerInit } from '../../node/http/http-server-init.ts';
import { HttpServer } from '../../node/http/server.ts';
import { Substituter, type SubstituterInit } from '../../node/routes/substituter.ts';
import { type Database, openDatabase } from '../../node/store/database.ts';
import { FollowedLogs } from '../../node/store/followed-logs.ts';
import type { LogStore } from '../../node/store/log-store.ts';
import { UpstreamCaches } from '../../node/upstream/upstream-caches.ts';
import type { UpstreamCachesInit } from '../../node/upstream/upstream-caches-init.ts';
import { createDeciderChain, type DeciderChain, type DeciderSpec } from '../../node/vote/decider.ts';
import { Decisions, type DecisionsInit } from '../../node/vote/decisions.ts';
import { generateNixSecretKey, type NixSecretKey } from '../../protocol/keys.ts';
import { type LogFixture, openLogFixture, tempDir } from './log-fixture.ts';

export interface VoteFixtureOptions {
  /** Builder logs: name, entries (fingerprints) and weight. */
  readonly logs: readonly { name: string; entries: readonly string[]; weight?: number }[];
  readonly vote: readonly DeciderSpec[];
  readonly upstreams?: readonly string[];
  readonly upstreamCaches?: UpstreamCachesInit;
  readonly substituter?: SubstituterInit;
  readonly decisions?: DecisionsInit;
  readonly http?: HttpServerInit;
}

export interface VoteFixture {
  /** The substituter's base URL, ending in '/'. */
  readonly url: string;
  readonly logs: ReadonlyMap<string, LogFixture>;
  /** The user's database (follows, statistics). */
  readonly db: Database;
  readonly followed: FollowedLogs;
  /** The user's copy of a followed log (here: the builder's own store). */
  store(logId: string): LogStore | undefined;
  readonly decisions: Decisions;
  readonly chain: DeciderChain;
  readonly upstreams: UpstreamCaches;
  readonly substituter: Substituter;
  readonly cacheKey: NixSecretKey;
  /** Log names the checkpoint monitor would call forked; tests add to it. */
  readonly forked: Set<string>;
  close(): Promise<void>;
}

export async function openVoteFixture(options: VoteFixtureOptions): Promise<VoteFixture> {
  const logs = new Map<string, LogFixture>();
  for (const l of options.logs) {
    const fixture = await openLogFixture({ secret: generateNixSecretKey(`${l.name}-1`) });
    if (l.entries.length > 0) await fixture.append(l.entries);
    logs.set(l.name, fixture);
  }
  const userDir = await tempDir('trustix-user-');
  const db: Database = await openDatabase(join(userDir, 'db'));
  const followed = await FollowedLogs.open(db);
  for (const l of options.logs)
    await followed.follow(logs.get(l.name)!.key, { name: l.name, ...(l.weight ? { weight: l.weight } : {}) });
  const byId = new Map([...logs.values()].map((f) => [f.key.logId, f]));
  const forked = new Set<string>();
  const chain = await createDeciderChain(options.vote);
  const decisions = new Decisions(
    {
      followed,
      chain,
      store: (id) => byId.get(id)?.store,
      isForked: (id) => forked.has(followed.get(id)?.name ?? ''),
    },
    options.decisions,
  );
  decisions.start();
  const upstreams = new UpstreamCaches(options.upstreams ?? [], options.upstreamCaches);
  const cacheKey = generateNixSecretKey('user-cache-1');
  const substituter = new Substituter({ decisions, upstreams, cacheKey }, options.substituter);
  const http = new HttpServer({}, options.http);
  http.register(substituter);
  await http.start();
  const { port } = http.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    logs,
    db,
    followed,
    store: (id) => byId.get(id)?.store,
    decisions,
    chain,
    upstreams,
    substituter,
    cacheKey,
    forked,
    async close() {
      await http.stop();
      decisions.stop();
      await chain.close();
      await db.close();
      await rm(userDir, { recursive: true, force: true });
      for (const f of logs.values()) await f.destroy();
    },
  };
}
