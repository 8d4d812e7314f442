/**
 * A tiny static HTTP server for binary-cache tests: serves one directory on 127.0.0.1 (port 0), with a
 * directory index at the root like python's http.server (HTML) or nginx's JSON autoindex, or none.
 * `override` answers chosen requests itself (hang, giant body, errors).
 */
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface CacheServerOptions {
  readonly index?: 'html' | 'json' | 'none';
  /** Return true when it answered the request itself. */
  readonly override?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export interface CacheServer {
  readonly url: string;
  /** Request paths seen, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

export async function serveCache(dir: string, options: CacheServerOptions = {}): Promise<CacheServer> {
  const requests: string[] = [];
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    if (options.override?.(req, res)) return;
    try {
      if (path === '/') {
        const names = (await readdir(dir)).sort();
        if (options.index === 'json') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(names.map((name) => ({ name, type: 'file', size: 1 }))));
        } else if (options.index === 'none') {
          res.writeHead(404).end();
        } else {
          const links = names.map((n) => `<li><a href="${n}">${n}</a></li>`).join('\n');
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          res.end(
            `<!DOCTYPE HTML><html><body><h1>Directory listing for /</h1><ul>\n${links}\n</ul></body></html>`,
          );
        }
        return;
      }
      if (path.includes('..')) return void res.writeHead(400).end();
      const body = await readFile(join(dir, path));
      res.writeHead(200, { 'content-type': 'text/x-nix-narinfo' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
