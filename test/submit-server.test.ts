import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { SubmitServer } from '../node/control/submit-server.ts';
import { SubmissionQueue } from '../node/own-log/submission-queue.ts';
import { request, SubmitError, submit } from '../node/socket/submit-client.js';
import { openDatabase } from '../node/store/database.ts';
import { MalformedError } from '../protocol/errors.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

const exec = promisify(execFile);
const HOOK = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix-post-build-hook.js');
const PATH = '/nix/store/xlyi2n3g389xnbz7z77bkdzk3vbfw53d-tv-file';

async function server(
  t: ExecutionContext,
  init: Partial<ConstructorParameters<typeof SubmitServer>[1]> = {},
) {
  const dir = await tempDir('trustix-socket-');
  const db = await openDatabase(join(dir, 'db'));
  const queue = await SubmissionQueue.open(db);
  const socketPath = join(dir, 'trustix.sock');
  const ops = {
    echo: async (req: Record<string, unknown>) => ({ said: req['say'] }),
    refuse: async () => {
      throw new MalformedError('thing', 'no');
    },
  };
  const s = new SubmitServer({ queue, ops }, { socketPath, ...init });
  await s.start();
  t.teardown(async () => {
    await s.stop();
    await db.close();
  });
  return { dir, queue, socketPath };
}

/** Sends raw bytes and returns the answer line (or '' when the server closed without one). */
function raw(path: string, bytes: string | Buffer, { end = true } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let answer = '';
    socket.on('connect', () => {
      socket.write(bytes);
      if (end) socket.end();
    });
    socket.on('data', (d) => {
      answer += d.toString();
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

test('submissions are acknowledged once durably queued; the socket is mode 0600', async (t) => {
  const { queue, socketPath } = await server(t);
  const [entry] = [...syntheticEntries(1, 3)];
  t.is(
    await submit(socketPath, [
      { kind: 'path', path: PATH },
      { kind: 'entry', entry: entry! },
    ]),
    2,
  );
  t.deepEqual((await queue.pending(0, 10))[0]!.submissions, [
    { kind: 'path', path: PATH },
    { kind: 'entry', entry },
  ]);
  t.is((await stat(socketPath)).mode & 0o777, 0o600);
});

test('registered operations answer; their typed errors reach the client', async (t) => {
  const { socketPath } = await server(t);
  t.like(await request(socketPath, { op: 'echo', say: 'hi' }), { ok: true, said: 'hi' });
  await t.throwsAsync(request(socketPath, { op: 'refuse' }), {
    instanceOf: SubmitError,
    message: /malformed thing: no/,
  });
  await t.throwsAsync(request(socketPath, { op: 'nope' }), {
    instanceOf: SubmitError,
    message: /unknown op/,
  });
});

test('bad requests are refused whole, with a reason, and queue nothing', async (t) => {
  const { queue, socketPath } = await server(t, { maxSubmissions: 3, maxRequestBytes: 4096 });
  const cases: [string, string | Buffer, RegExp][] = [
    ['not JSON', 'hello\n', /not JSON/],
    ['not an object', '[1,2]\n', /not a JSON object/],
    ['empty submissions', '{"op":"submit","submissions":[]}\n', /non-empty/],
    [
      'too many',
      `${JSON.stringify({ op: 'submit', submissions: Array(4).fill({ kind: 'path', path: PATH }) })}\n`,
      /more than 3/,
    ],
    [
      'a bad store path',
      '{"op":"submit","submissions":[{"kind":"path","path":"/etc/passwd"}]}\n',
      /store path|store dir/,
    ],
    [
      'a path that is not a .drv',
      `{"op":"submit","submissions":[{"kind":"drv","drvPath":"${PATH}"}]}\n`,
      /not a derivation/,
    ],
    ['a bad entry', '{"op":"submit","submissions":[{"kind":"entry","entry":"1;x;y;1;"}]}\n', /malformed/],
    ['an unknown kind', '{"op":"submit","submissions":[{"kind":"rm","path":"/"}]}\n', /expected/],
    [
      'one good, one bad',
      `{"op":"submit","submissions":[{"kind":"path","path":"${PATH}"},{"kind":"path","path":"x"}]}\n`,
      /store path/,
    ],
    ['an oversized line', Buffer.alloc(5000, 'a'), /ERR_TOO_LARGE/],
  ];
  for (const [what, bytes, reason] of cases) {
    const answer = await raw(socketPath, bytes);
    t.regex(answer, /"ok":false/, what);
    t.regex(answer, reason, what);
  }
  t.deepEqual(await queue.pending(0, 10), []);
});

test('a client that never finishes its request is dropped after the time limit', async (t) => {
  const { socketPath } = await server(t, { requestTimeoutMs: 200 });
  const started = Date.now();
  const answer = await raw(socketPath, '{"op":"sub', { end: false });
  t.regex(answer, /ERR_TIMEOUT/);
  t.true(Date.now() - started < 5000);
});

test('the post-build hook queues the derivation and exits 0; without a node it fails fast with exit 1', async (t) => {
  const { queue, socketPath } = await server(t);
  const drv = '/nix/store/h5asicm4z71j7l53dl0v1hp53nyxhbdv-tv-exe.drv';
  await exec(process.execPath, [HOOK], {
    env: { ...process.env, TRUSTIX_SOCKET: socketPath, DRV_PATH: drv, OUT_PATHS: '' },
  });
  t.deepEqual((await queue.pending(0, 10))[0]!.submissions, [{ kind: 'drv', drvPath: drv }]);

  const started = Date.now();
  const err = await t.throwsAsync(
    exec(process.execPath, [HOOK], {
      env: { ...process.env, TRUSTIX_SOCKET: `${socketPath}.none`, DRV_PATH: drv },
    }),
  );
  t.is((err as unknown as { code: number }).code, 1);
  t.regex((err as unknown as { stderr: string }).stderr, /no trustix node is running/);
  t.true(Date.now() - started < 5000);
});
