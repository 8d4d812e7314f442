/**
 * The node's HTTP server (node:http, 127.0.0.1 by default): limits, request checks, the route table, and
 * the one place where errors become HTTP statuses.
 *
 * Route modules (HttpRoutes) register entries of one table: a name, the paths the route owns (exact, a
 * prefix, or a test), whether it reads a query string, and a handler. The server owns the rules every
 * route shares: all routes are read-only, so GET and HEAD (same headers, no body) are answered and any
 * other method on a route's path is a 405 with `Allow: GET, HEAD`; a query string on a route that reads
 * none is a 400; a path no route owns, or a handler's `undefined`, is a 404. Handlers get the raw path,
 * already checked here: origin-form, printable ASCII, no empty or dot segments, no percent-encoded dot,
 * slash, backslash or NUL (canonical URLs never encode those), so `..` tricks never reach a route.
 * No route reads a request body: a request that carries one is refused (413).
 *
 * The Host header is checked against the names this server is for (docs/SECURITY.md, "The local HTTP
 * server"): a web page cannot read the node's API through DNS rebinding, because its requests carry
 * the attacker's host name, answered 421.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { logger } from '@libp2p/logger';
import { MalformedError, OutOfRangeError, TrustixError } from '../../protocol/errors.ts';
import { HttpListenError, NodeUnavailableError, NotStartedError, StoppedError } from '../errors.ts';
import { type HttpRequest, type HttpResponse, type HttpRoutes, type Route, routeOwns } from './route.ts';

const log = logger('trustix:http');

/** Every route is read-only. */
const ALLOWED_METHODS = ['GET', 'HEAD'] as const;

/** The path exists, but not for this method: answered 405 with `Allow`. */
export class MethodNotAllowedError extends TrustixError {
  readonly allow: readonly string[];

  constructor(method: string, allow: readonly string[]) {
    super('ERR_METHOD_NOT_ALLOWED', `method ${method} is not allowed here`);
    this.allow = allow;
  }
}

/** A request refused by the server's own limits or checks, with the status to answer (413, 414, 421, 505). */
export class RequestRefusedError extends TrustixError {
  readonly status: number;

  constructor(status: number, message: string) {
    super('ERR_REQUEST_REFUSED', message);
    this.status = status;
  }
}

export interface HttpServerInit {
  /** Address to listen on. Default '127.0.0.1' (the substituter and logs are local services). */
  readonly host?: string;
  /**
   * Host names (without port) accepted in the Host header besides `localhost`, IP literals and `host`.
   * A request naming another host is answered 421. Default none.
   */
  readonly allowedHosts?: readonly string[];
  /** Port; 0 picks a free one (see address()). Default 0. */
  readonly port?: number;
  /** Concurrent connections; more are dropped on accept. Default 256. */
  readonly maxConnections?: number;
  /** Longest request target (path and query) in bytes, else 414. Default 2048. */
  readonly maxUrlBytes?: number;
  /** Request line plus headers in bytes, else 431 (node:http maxHeaderSize). Default 8192. */
  readonly maxHeaderBytes?: number;
  /** Most header lines read; the rest are ignored (node:http maxHeadersCount). Default 64. */
  readonly maxHeadersCount?: number;
  /** Time for a client to send its request headers, else 408 and close. Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Time for a client to send its whole request, else 408 and close. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /**
   * Idle time a kept-alive connection is held between requests (advertised in `Keep-Alive`; node:http
   * closes about 1 s later, so a client reusing it at the limit is not cut off). Default 5 s.
   */
  readonly keepAliveTimeoutMs?: number;
  /** Idle time on a socket while a response is pending or being read, before it is destroyed. Default 60 s. */
  readonly socketIdleTimeoutMs?: number;
}

/** Told of every answered request (node/routes/metrics.ts counts and times the substituter's with it). */
export interface HttpObserver {
  /**
   * `route` names the route that answered (undefined when none owns the path), `status` is the status
   * sent, `seconds` the time from the request's arrival to the response handed to node:http (for a
   * streamed body: its headers). Must be cheap.
   */
  response(route: string | undefined, status: number, seconds: number): void;
}

/** The server owns no shared state; route modules bring their own components. */
export interface HttpServerComponents {
  /** Default: none. */
  readonly observer?: HttpObserver;
}

const ERROR_HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
const NOT_FOUND: HttpResponse = { status: 404, headers: ERROR_HEADERS, body: 'not found\n' };
// A Host header: a reg-name or IPv4 address, or a bracketed IPv6 address, then an optional port.
const HOST_HEADER = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9._~-]+))(?::[0-9]{1,5})?$/i;

/** The host name (lower case, IPv6 without brackets) of a Host header, or undefined when malformed. */
function hostName(header: string): string | undefined {
  const m = HOST_HEADER.exec(header);
  if (m === null) return undefined;
  return (m[1] ?? m[2]!).toLowerCase();
}
// An empty (//) or dot segment, a backslash, or a percent-encoded dot, slash, backslash or NUL.
const BAD_PATH = /\/\/|\/\.\.?(?:\/|$)|\\|%(?:2e|2f|5c|00)/i;
// Printable ASCII only (node:http already refuses controls and spaces; this also refuses 0x7f and above).
const PATH_CHARS = /^\/[\x21-\x7e]*$/;

/** The one mapping from errors to statuses, for every route. */
function statusOf(err: unknown): number {
  if (err instanceof RequestRefusedError) return err.status;
  if (err instanceof MethodNotAllowedError) return 405;
  if (err instanceof MalformedError) return 400; // includes TooLargeError: a bad path, not a large request
  if (err instanceof OutOfRangeError) return 404; // asked for something outside the tree
  // The node is starting, stopping, or lacks the part asked for (its role): not the client's fault.
  if (err instanceof NodeUnavailableError || err instanceof NotStartedError || err instanceof StoppedError)
    return 503;
  return 500; // InternalError and anything untyped
}

export class HttpServer {
  private readonly init: Required<HttpServerInit>;
  private readonly routes: Route[] = [];
  private readonly hosts: ReadonlySet<string>;
  private readonly observer: HttpObserver | undefined;
  private server: Server | undefined;

  constructor(components: HttpServerComponents, init: HttpServerInit = {}) {
    this.observer = components.observer;
    this.init = {
      host: '127.0.0.1',
      port: 0,
      maxConnections: 256,
      maxUrlBytes: 2048,
      maxHeaderBytes: 8192,
      maxHeadersCount: 64,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      socketIdleTimeoutMs: 60_000,
      allowedHosts: [],
      ...init,
    };
    this.hosts = new Set(
      ['localhost', this.init.host, ...this.init.allowedHosts].map((h) => h.toLowerCase()),
    );
    if (this.init.headersTimeoutMs > this.init.requestTimeoutMs)
      throw new RangeError('headersTimeoutMs must not exceed requestTimeoutMs');
  }

  /** Adds a module's routes to the table; the first route that owns a path answers it. */
  register(module: HttpRoutes): void {
    this.routes.push(...module.routes);
  }

  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const { headersTimeoutMs, requestTimeoutMs } = this.init;
    const server = createServer(
      {
        maxHeaderSize: this.init.maxHeaderBytes,
        headersTimeout: headersTimeoutMs,
        requestTimeout: requestTimeoutMs,
        keepAliveTimeout: this.init.keepAliveTimeoutMs,
        // node:http enforces the two timeouts above only on this tick; scale it so they hold to ~25%.
        connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
      },
      (req, res) => {
        this.serve(req, res);
      },
    );
    server.maxConnections = this.init.maxConnections;
    server.maxHeadersCount = this.init.maxHeadersCount;
    server.setTimeout(this.init.socketIdleTimeoutMs);
    server.on('drop', () => log('connection limit of %d reached: dropped one', this.init.maxConnections));
    await new Promise<void>((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) => reject(listenError(this.init.host, this.init.port, err));
      server.once('error', failed);
      server.listen(this.init.port, this.init.host, () => {
        server.off('error', failed);
        resolve();
      });
    });
    server.on('error', (err) => log.error('server error: %s', err.message));
    this.server = server;
    const { host, port } = this.address();
    log('listening on http://%s:%d', host, port);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** The address listened on (the real port when init.port was 0). Throws unless started. */
  address(): { host: string; port: number } {
    const info = this.server?.address() as AddressInfo | null | undefined;
    if (info === null || info === undefined) throw new NotStartedError('the HTTP server is not started');
    return { host: info.address, port: info.port };
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const { observer } = this;
    const started = log.enabled || observer !== undefined ? performance.now() : 0;
    const answer: { route?: Route } = {};
    this.dispatch(req, answer)
      .catch((err: unknown) => this.failure(req, err))
      .then((response) => {
        this.respond(req, res, response);
        if (!log.enabled && observer === undefined) return;
        const ms = performance.now() - started;
        if (log.enabled) log('%s %s %d %sms', req.method, req.url, res.statusCode, ms.toFixed(2));
        try {
          observer?.response(answer.route?.name, res.statusCode, ms / 1000);
        } catch (err) {
          // The response is on its way: an observer's bug must not cut it.
          log.error('observer failed: %O', err);
        }
      })
      .catch((err: unknown) => {
        log.error('%s %s: could not answer: %O', req.method, req.url, err);
        res.destroy();
      });
  }

  /** Sends `response`; a response that cannot be sent (a route's bad header value) becomes a 500. */
  private respond(req: IncomingMessage, res: ServerResponse, response: HttpResponse): void {
    try {
      this.send(res, response);
    } catch (err) {
      if (response.body instanceof Readable) response.body.destroy();
      if (res.headersSent) {
        log.error('%s %s: response failed midway: %O', req.method, req.url, err);
        res.destroy();
        return;
      }
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      this.send(res, this.failure(req, err));
    }
  }

  /** Answers from the table; `answer.route` is set to the route that owns the path. */
  private async dispatch(req: IncomingMessage, answer: { route?: Route }): Promise<HttpResponse> {
    const request = this.parseRequest(req);
    const route = this.routes.find((r) => routeOwns(r, request.path));
    if (route === undefined) return NOT_FOUND;
    answer.route = route;
    if (request.method !== 'GET' && request.method !== 'HEAD')
      throw new MethodNotAllowedError(request.method, ALLOWED_METHODS);
    if (request.query !== undefined && route.query !== true)
      throw new MalformedError('request target', `query strings are not accepted by ${request.path}`);
    return (await route.handle(request)) ?? NOT_FOUND;
  }

  /** Checks the request target, framing and host; throws what statusOf maps to 400, 413, 414, 421 or 505. */
  private parseRequest(req: IncomingMessage): HttpRequest {
    const target = req.url ?? '';
    // An HTTP/0.9-style request line ("GET /") carries no headers, so no Host to check: refused.
    if (req.httpVersionMajor !== 1)
      throw new RequestRefusedError(505, 'only HTTP/1.0 and HTTP/1.1 are served');
    this.checkHost(req.headers.host);
    if (target.length > this.init.maxUrlBytes)
      throw new RequestRefusedError(414, `request target longer than ${this.init.maxUrlBytes} bytes`);
    const headers = req.headers;
    const length = headers['content-length'];
    if (headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0'))
      throw new RequestRefusedError(413, 'request bodies are not accepted');
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    if (!PATH_CHARS.test(path)) throw new MalformedError('request target', 'expected an absolute path');
    if (BAD_PATH.test(path))
      throw new MalformedError(
        'request target',
        'empty or dot segment, backslash or encoded dot/slash in path',
      );
    if (target.includes('#')) throw new MalformedError('request target', 'fragment in request target');
    return { method: req.method ?? '', path, query: q < 0 ? undefined : target.slice(q + 1), headers };
  }

  /**
   * Accepts a Host naming this server: `localhost`, an IP literal (a page whose origin is an address is
   * that address's own page, so no rebinding target), the listen host, or a configured name. HTTP/1.0
   * requests may omit Host (node:http refuses HTTP/1.1 ones without it).
   */
  private checkHost(header: string | undefined): void {
    if (header === undefined) return;
    const name = hostName(header);
    if (name !== undefined && (isIP(name) !== 0 || this.hosts.has(name))) return;
    throw new RequestRefusedError(
      421,
      `this server does not answer for host ${JSON.stringify(header.slice(0, 255))}; ` +
        'a name the node is reached by must be listed in the configuration ("httpHosts")',
    );
  }

  private failure(req: IncomingMessage, err: unknown): HttpResponse {
    const status = statusOf(err);
    if (status >= 500) {
      // The details stay in the log; the client learns nothing about the inside.
      log.error('%s %s failed: %O', req.method, req.url, err);
      return { status, headers: ERROR_HEADERS, body: status === 503 ? 'unavailable\n' : 'internal error\n' };
    }
    const message = err instanceof Error ? err.message : String(err);
    const headers =
      err instanceof MethodNotAllowedError
        ? { ...ERROR_HEADERS, allow: err.allow.join(', ') }
        : ERROR_HEADERS;
    return { status, headers, body: `${message}\n` };
  }

  private send(res: ServerResponse, response: HttpResponse): void {
    const { body } = response;
    for (const name in response.headers) res.setHeader(name, response.headers[name]!);
    if (body instanceof Readable) {
      if (response.length !== undefined) res.setHeader('content-length', response.length);
    } else
      res.setHeader('content-length', typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    res.setHeader('x-content-type-options', 'nosniff');
    // The request was refused before its body was read: end the connection rather than drain it.
    if (response.status === 413) res.setHeader('connection', 'close');
    res.writeHead(response.status ?? 200);
    if (!(body instanceof Readable)) {
      res.end(body);
      return;
    }
    if (res.req.method === 'HEAD') {
      body.destroy();
      res.end();
      return;
    }
    pipeline(body, res).catch((err: unknown) => {
      log('%s %s: stream ended early: %s', res.req.method, res.req.url, (err as Error).message);
      res.destroy();
    });
  }
}

/** A listen failure as a typed error naming the address, the cause and what to do. */
function listenError(host: string, port: number, err: NodeJS.ErrnoException): HttpListenError {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const fix = 'choose another with --http HOST:PORT (or "http" in the config file)';
  const reason =
    err.code === 'EADDRINUSE'
      ? `the port is in use (another trustix node, or another program?); ${fix}`
      : err.code === 'EACCES'
        ? `no permission to use this port (ports below 1024 need privileges); ${fix}`
        : err.code === 'EADDRNOTAVAIL'
          ? `this machine has no address ${host}; ${fix}`
          : err.message;
  return new HttpListenError(address, reason, { cause: err });
}
