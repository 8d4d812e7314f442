/**
 * The upstream cache of the substituter benchmark (bench/substituter.ts): a plain static keep-alive
 * node:http server answering from memory, and the narinfo it holds for each entry. Apart from the loads
 * because it is both what the substituter fetches from (cold paths) and the baseline it is compared with.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encodeNix32, formatNarinfo, parseEntry } from '../protocol/index.ts';

export interface StaticServer {
  readonly url: string;
  /** Requests answered so far. */
  readonly served: number;
  close(): Promise<void>;
}

/** Serves the files of `dir` named in `names` (plus nix-cache-info) from memory, keep-alive. */
export async function serveStatic(dir: string, names: readonly string[]): Promise<StaticServer> {
  const files = new Map<string, Buffer>();
  for (const name of ['nix-cache-info', ...names]) files.set(`/${name}`, await readFile(join(dir, name)));
  let served = 0;
  const server: Server = createServer((req, res) => {
    served++;
    const body = files.get(req.url ?? '');
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 10 }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/x-nix-narinfo', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    get served() {
      return served;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** The narinfo an upstream holds for an entry: its fingerprint is the entry. */
export function narinfoOf(fingerprint: string): string {
  const e = parseEntry(fingerprint);
  const narHash = encodeNix32(e.narHash);
  return formatNarinfo({
    storePath: e.storePath,
    url: `nar/${narHash}.nar`,
    compression: 'none',
    narHash: e.narHash,
    narSize: e.narSize,
    references: e.references.map((r) => r.slice('/nix/store/'.length)),
    sigs: [],
    extra: [],
  });
}
