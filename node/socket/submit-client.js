// Client of the node's local submission socket. Plain JavaScript (typed by submit-client.d.ts) so that the
// post-build hook can load it without a TypeScript loader: the hook runs inside Nix's build loop and must
// start in tens of milliseconds.
//
// Protocol (one request per connection, both directions one JSON line; requests at most 1 MiB, answers
// at most 1 MiB unless the caller expects more, e.g. a challenge of a whole closure):
//   -> {"op":"submit","submissions":[{"kind":"drv","drvPath":"/nix/store/…"} | {"kind":"path","path":…} | {"kind":"entry","entry":…}]}
//   <- {"ok":true,"queued":N} once durably queued, or {"ok":false,"error":{"code":…,"message":…}}
//   With "waitMs":MS in the request, the answer comes once the node settled the submissions (or MS passed)
//   and adds "verdicts":[{"status":"published"|"refused"|"queued","error"?:{"code","message"}}], in order.
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const SOCKET_NAME = 'trustix.sock';
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/** The data directory: $TRUSTIX_DATA_DIR, else $XDG_DATA_HOME/trustix, else ~/.local/share/trustix. */
export function defaultDataDir(env = process.env) {
  if (env.TRUSTIX_DATA_DIR) return env.TRUSTIX_DATA_DIR;
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'trustix');
}

export function socketPath(dataDir) {
  return join(dataDir, SOCKET_NAME);
}

export class SubmitError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'SubmitError';
    this.code = code;
  }
}

/** Sends one request and resolves with the node's answer; rejects with SubmitError. */
export function request(path, body, { timeoutMs = 10_000, maxAnswerBytes = MAX_MESSAGE_BYTES } = {}) {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const chunks = [];
    let size = 0;
    let settled = false;
    const finish = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(
      () =>
        finish(new SubmitError('ERR_TIMEOUT', `the node at ${path} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('connect', () => socket.write(`${JSON.stringify(body)}\n`));
    socket.on('data', (chunk) => {
      size += chunk.length;
      if (size > maxAnswerBytes)
        return finish(new SubmitError('ERR_TOO_LARGE', 'answer from the node is too large'));
      chunks.push(chunk);
      // Only the new chunk can hold the end of the line: no re-scanning of a large answer.
      if (!chunk.includes(0x0a)) return;
      const text = Buffer.concat(chunks).toString('utf8');
      const nl = text.indexOf('\n');
      let answer;
      try {
        answer = JSON.parse(text.slice(0, nl));
      } catch {
        return finish(new SubmitError('ERR_PROTOCOL', 'the node sent a malformed answer'));
      }
      if (answer?.ok === true) return finish(undefined, answer);
      const e = answer?.error || {};
      finish(
        new SubmitError(String(e.code || 'ERR_REFUSED'), String(e.message || 'the node refused the request')),
      );
    });
    socket.on('error', (err) => {
      const hint =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? `no trustix node is running for ${path} (start one with 'trustix start')`
          : `cannot reach the trustix node at ${path}: ${err.message}`;
      finish(new SubmitError('ERR_NODE_UNAVAILABLE', hint));
    });
    socket.on('end', () =>
      finish(new SubmitError('ERR_PROTOCOL', 'the node closed the connection without answering')),
    );
  });
}

/** Hands submissions to the node; resolves with the number durably queued. */
export async function submit(path, submissions, options) {
  const answer = await request(path, { op: 'submit', submissions }, options);
  return answer.queued;
}
