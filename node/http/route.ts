/**
 * The route table's vocabulary: what a route module sees of a request, what it answers, and which paths
 * it owns. The rules every route shares (methods, query strings, path checks, Host) are the server's
 * (node/http/server.ts; the path and Host checks: node/http/request-checks.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

/** A request as route modules see it. */
export interface HttpRequest {
  readonly method: string;
  /** The raw (undecoded) path, checked as node/http/request-checks.ts describes; starts with '/'. */
  readonly path: string;
  /** The raw query after '?', or undefined when the target has none. Routes decide whether to accept it. */
  readonly query: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/**
 * A response. HEAD requests get the same headers and no body. A stream body (a NAR proxied from
 * upstream) is piped, never buffered: sent with `length` as Content-Length when known, chunked
 * otherwise; a stream that fails midway cuts the connection (the client sees a truncated transfer,
 * never a wrong one), and a client that goes away destroys the stream (and whatever feeds it).
 */
export interface HttpResponse {
  /** Default 200. */
  readonly status?: number;
  /** Response headers (Content-Length is added by the server). Constant objects can be shared. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | string | Readable;
  /** Byte length of a stream body, when known. */
  readonly length?: number;
}

/** The paths a route owns: one exact path, every path under a prefix, or those a test accepts. */
export type RoutePaths =
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly test: (path: string) => boolean };

/** One entry of the server's route table (see the module comment for the rules the server applies). */
export interface Route {
  /** Names the route to the observer and in logs, e.g. 'narinfo'. */
  readonly name: string;
  readonly paths: RoutePaths;
  /** Whether the handler reads a query string; a request with one to a route without is a 400. Default false. */
  readonly query?: boolean;
  /** Answers a GET or HEAD, or returns undefined for "not found" (404). May throw (see statusOf, node/http/http-status.ts). */
  handle(request: HttpRequest): Promise<HttpResponse | undefined> | HttpResponse | undefined;
}

/** A module's routes, registered on the server as one unit. */
export interface HttpRoutes {
  readonly routes: readonly Route[];
}

/** Whether `path` is one of the paths `route` owns. */
export function routeOwns(route: Route, path: string): boolean {
  const { paths } = route;
  if ('exact' in paths) return path === paths.exact;
  if ('prefix' in paths) return path.startsWith(paths.prefix);
  return paths.test(path);
}
