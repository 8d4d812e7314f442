/**
 * The upstream binary cache of the light benchmark (bench/light.ts): a loopback HTTP server answering the
 * narinfo of each known entry. Apart from the run because both substituters measured, the light node's
 * and the baseline's, fetch from it, and the light node's plain HTTP GETs of it are the loopback baseline.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeNix32, formatNarinfo, parseEntry, parseStorePath } from '../protocol/index.ts';

/** The upstream binary cache: the narinfo of each known entry, by hash part (its fingerprint is the entry). */
export async function serveUpstream(entries: readonly string[]) {
  const byHash = new Map<string, string>();
  for (const entry of entries) {
    const e = parseEntry(entry);
    byHash.set(
      `/${parseStorePath(e.storePath).hashPart}.narinfo`,
      formatNarinfo({
        storePath: e.storePath,
        url: `nar/${encodeNix32(e.narHash)}.nar`,
        compression: 'none',
        narHash: e.narHash,
        narSize: e.narSize,
        references: [],
        sigs: [],
        extra: [],
      }),
    );
  }
  const server = createServer((req, res) => {
    const body = req.url === '/nix-cache-info' ? 'StoreDir: /nix/store\n' : byHash.get(req.url ?? '');
    if (body === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/x-nix-narinfo' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
