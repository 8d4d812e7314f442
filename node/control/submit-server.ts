/**
 * The local control socket: a UNIX domain socket in the data directory (mode 0600, in a 0700
 * directory), never TCP, so only the node's user can use it. One request per connection (protocol in
 * node/socket/submit-client.js): `{"op": …}` in, `{"ok": true, …}` or `{"ok": false, "error": …}` out.
 * `submit` is built in: a request is validated whole, queued durably, and only then acknowledged.
 * Other operations (follow, logs, peers, …) are handlers the node registers (`ControlOps`).
 */
import { unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { logger } from '@libp2p/logger';
import { parseEntry } from '../../protocol/entry.ts';
import { MalformedError, TrustixError } from '../../protocol/errors.ts';
import { parseStorePath } from '../../protocol/store-path.ts';
import type { Submission, SubmissionQueue } from '../own-log/submission-queue.ts';
import { type SequencerOutcomes, submissionVerdicts } from '../own-log/submission-verdicts.ts';

const log = logger('trustix:submit-server');

export interface SubmitServerInit {
  /** Path of the socket. */
  readonly socketPath: string;
  /** Store directory submissions must be in. Default '/nix/store'. */
  readonly storeDir?: string;
  /** Largest request line in bytes. Default 1 MiB. */
  readonly maxRequestBytes?: number;
  /** Most submissions in one request. Default 10,000. */
  readonly maxSubmissions?: number;
  /** Time a client has to send its request. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Concurrent connections. Default 64. */
  readonly maxConnections?: number;
  /** Longest a `submit` with `waitMs` waits for its verdicts, in ms. Default 120,000. */
  readonly maxWaitMs?: number;
}

/**
 * A control operation: gets the parsed request object, returns the answer's fields (merged into
 * `{ok: true}`), throws a TrustixError to refuse (its code and message go back to the client).
 */
export type ControlOp = (request: Record<string, unknown>) => Promise<Record<string, unknown>>;

export interface SubmitServerComponents {
  /** Where submissions go; a node without a log of its own (bootstrap) has none and refuses them. */
  readonly queue?: SubmissionQueue;
  /** The sequencer of that queue: a `submit` with `waitMs` waits for its verdicts. */
  readonly sequencer?: SequencerOutcomes;
  /** Further operations by name (not 'submit'). */
  readonly ops?: Readonly<Record<string, ControlOp>>;
}

export class SubmitServer {
  private readonly init: Required<SubmitServerInit>;
  private readonly components: SubmitServerComponents;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(components: SubmitServerComponents, init: SubmitServerInit) {
    this.components = components;
    this.init = {
      storeDir: '/nix/store',
      maxRequestBytes: 1024 * 1024,
      maxSubmissions: 10_000,
      requestTimeoutMs: 10_000,
      maxConnections: 64,
      maxWaitMs: 120_000,
      ...init,
    };
  }

  async start(): Promise<void> {
    // The store's LOCK guarantees no other node owns this directory: a socket file left here is stale.
    await unlink(this.init.socketPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    const server = createServer((socket) => this.handle(socket));
    server.maxConnections = this.init.maxConnections;
    const previous = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.init.socketPath, () => resolve());
      });
    } finally {
      process.umask(previous);
    }
    this.server = server;
    log('listening on %s', this.init.socketPath);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.init.socketPath).catch(() => {});
  }

  private handle(socket: Socket): void {
    this.sockets.add(socket);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const reply = (answer: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.end(`${JSON.stringify(answer)}\n`);
    };
    const fail = (code: string, message: string) => reply({ ok: false, error: { code, message } });
    const timer = setTimeout(
      () => fail('ERR_TIMEOUT', 'request not received in time'),
      this.init.requestTimeoutMs,
    );
    socket.on('close', () => {
      clearTimeout(timer);
      this.sockets.delete(socket);
    });
    socket.on('error', (err) => log.error('socket error: %s', err.message));
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      const nl = chunk.indexOf(0x0a);
      size += nl < 0 ? chunk.length : nl;
      if (size > this.init.maxRequestBytes) {
        return fail('ERR_TOO_LARGE', `request exceeds ${this.init.maxRequestBytes} bytes`);
      }
      chunks.push(nl < 0 ? chunk : chunk.subarray(0, nl));
      if (nl < 0) return;
      done = true;
      this.answer(Buffer.concat(chunks)).then(
        (answer) => {
          done = false;
          reply(answer);
        },
        (err: unknown) => {
          done = false;
          log.error('submission failed: %s', err);
          fail('ERR_INTERNAL', 'the node failed to answer the request (its log says why)');
        },
      );
    });
  }

  private async answer(line: Buffer): Promise<unknown> {
    try {
      const request = parseRequest(line);
      if (request['op'] === 'submit') {
        const queue = this.components.queue;
        if (queue === undefined)
          throw new UnsupportedOpError('this node has no log of its own to publish to');
        const submissions = this.parseSubmissions(request);
        const waitMs = request['waitMs'];
        const enqueue = async () => {
          const record = await queue.enqueue(submissions);
          log('queued %d submission(s) as record %d', submissions.length, record.seq);
          return record;
        };
        const { sequencer } = this.components;
        if (waitMs === undefined || sequencer === undefined) {
          await enqueue();
          return { ok: true, queued: submissions.length };
        }
        if (typeof waitMs !== 'number' || !Number.isSafeInteger(waitMs) || waitMs < 0)
          throw new MalformedError('submit request', 'waitMs must be a non-negative integer');
        const verdicts = await submissionVerdicts(
          sequencer,
          submissions,
          enqueue,
          Math.min(waitMs, this.init.maxWaitMs),
        );
        return { ok: true, queued: submissions.length, verdicts };
      }
      const op = typeof request['op'] === 'string' ? this.components.ops?.[request['op']] : undefined;
      if (op === undefined)
        throw new MalformedError('control request', `unknown op ${JSON.stringify(request['op'])}`);
      return { ...(await op(request)), ok: true };
    } catch (err) {
      if (err instanceof TrustixError) return { ok: false, error: { code: err.code, message: err.message } };
      throw err;
    }
  }

  private parseSubmissions(request: Record<string, unknown>): Submission[] {
    const submissions = request['submissions'];
    if (!Array.isArray(submissions) || submissions.length === 0) {
      throw new MalformedError('submit request', 'submissions must be a non-empty array');
    }
    if (submissions.length > this.init.maxSubmissions) {
      throw new MalformedError('submit request', `more than ${this.init.maxSubmissions} submissions`);
    }
    return submissions.map((s: unknown) => this.parseSubmission(s));
  }

  private parseSubmission(value: unknown): Submission {
    const s = value as Record<string, unknown>;
    const storeDir = this.init.storeDir;
    if (s !== null && typeof s === 'object') {
      if (s['kind'] === 'drv' && typeof s['drvPath'] === 'string') {
        const p = parseStorePath(s['drvPath'], storeDir);
        if (!p.name.endsWith('.drv')) throw new MalformedError('submission', `${p.path} is not a derivation`);
        return { kind: 'drv', drvPath: p.path };
      }
      if (s['kind'] === 'path' && typeof s['path'] === 'string') {
        return { kind: 'path', path: parseStorePath(s['path'], storeDir).path };
      }
      if (s['kind'] === 'entry' && typeof s['entry'] === 'string') {
        parseEntry(s['entry'], storeDir);
        return { kind: 'entry', entry: s['entry'] };
      }
    }
    throw new MalformedError('submission', 'expected {kind:"drv"|"path"|"entry", ...}');
  }
}

function parseRequest(line: Buffer): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(line.toString('utf8'));
  } catch {
    throw new MalformedError('control request', 'not JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new MalformedError('control request', 'not a JSON object');
  return body as Record<string, unknown>;
}

/** A request for an operation this node does not offer. */
export class UnsupportedOpError extends TrustixError {
  constructor(message: string) {
    super('ERR_UNSUPPORTED_OP', message);
  }
}
