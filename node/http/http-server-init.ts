/**
 * What the node's HTTP server (node/http/server.ts) is given: its limits and address (HttpServerInit)
 * with their defaults, and the observer told of every answered request. Apart from the server because
 * those who configure one (the node's settings) or observe it (node/routes/metrics.ts) need none of its
 * workings.
 */

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

/** `init` with the defaults of what it leaves out. */
export function httpServerSettings(init: HttpServerInit): Required<HttpServerInit> {
  return {
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
}
