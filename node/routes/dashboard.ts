/**
 * The web dashboard at `/`: static assets (node/routes/dashboard/) that read the JSON API (node/routes/api.ts) from
 * the browser. No build step and nothing from the internet: plain HTML, CSS and an ES module, served from
 * memory (read once when the routes open) under a fixed allow-list, so no request path ever reaches the
 * file system. Every asset is sent with a strict Content-Security-Policy (scripts, styles and requests to
 * this origin only, no inline script or style, never framed) and `cache-control: no-cache`, so an
 * upgraded node serves its new page at once. (No ETag: the server frames every reply by its body, and a
 * 304 must not claim an empty one; the assets are a few tens of kilobytes.)
 */
import { readFile } from 'node:fs/promises';
import type { HttpResponse, HttpRoutes, Route } from '../http/route.ts';

/** Where the assets live (next to this module). */
export const DASHBOARD_DIR = new URL('./dashboard/', import.meta.url);

export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Request path → asset file and its type: the only files served. */
const ASSETS: readonly { path: string; file: string; type: string }[] = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/dashboard/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { path: '/dashboard/style.css', file: 'style.css', type: 'text/css; charset=utf-8' },
  { path: '/dashboard/favicon.svg', file: 'favicon.svg', type: 'image/svg+xml' },
];

type Asset = HttpResponse & { readonly body: Uint8Array };

export class DashboardRoutes implements HttpRoutes {
  /** One exact route per asset. */
  readonly routes: readonly Route[];

  private constructor(assets: ReadonlyMap<string, Asset>) {
    this.routes = [...assets].map(([path, asset]) => ({
      name: 'dashboard',
      paths: { exact: path },
      // The page may be linked with a query (ignored: the asset is the same).
      query: true,
      handle: () => asset,
    }));
  }

  /** Reads the allow-listed assets from `dir` (default DASHBOARD_DIR) into memory. */
  static async open(dir: URL = DASHBOARD_DIR): Promise<DashboardRoutes> {
    const assets = new Map<string, Asset>();
    for (const { path, file, type } of ASSETS) {
      const body = new Uint8Array(await readFile(new URL(file, dir)));
      assets.set(path, {
        body,
        headers: {
          'content-type': type,
          'cache-control': 'no-cache',
          'content-security-policy': DASHBOARD_CSP,
          'referrer-policy': 'no-referrer',
          'x-frame-options': 'DENY',
        },
      });
    }
    return new DashboardRoutes(assets);
  }
}
