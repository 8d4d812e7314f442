// The HTTP server's route table and request checks, over real HTTP on 127.0.0.1: the rules it applies to
// every route (GET/HEAD only, query strings, 404s), which route answered, and the Host check that keeps
// web pages out through DNS rebinding.
import { connect } from 'node:net';
import test from 'ava';
import type { HttpObserver, HttpServerInit } from '../node/http/http-server-init.ts';
import type { HttpRoutes } from '../node/http/route.ts';
import { HttpServer } from '../node/http/server.ts';

const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

/** Three routes, one of each kind of path, one reading its query. */
const routes: HttpRoutes = {
  routes: [
    { name: 'exact', paths: { exact: '/exact' }, handle: () => ({ headers: TEXT, body: 'exact\n' }) },
    {
      name: 'prefix',
      paths: { prefix: '/under/' },
      query: true,
      handle: (r) =>
        r.path === '/under/missing' ? undefined : { headers: TEXT, body: `${r.path} ${r.query}\n` },
    },
    {
      name: 'test',
      paths: { test: (p) => p.endsWith('.txt') },
      handle: () => ({ headers: TEXT, body: 'txt\n' }),
    },
  ],
};

async function started(t: { teardown(fn: () => Promise<void>): void }, init: HttpServerInit = {}) {
  const answered: { route: string | undefined; status: number }[] = [];
  const observer: HttpObserver = { response: (route, status) => answered.push({ route, status }) };
  const server = new HttpServer({ observer }, init);
  server.register(routes);
  await server.start();
  t.teardown(() => server.stop());
  const { port } = server.address();
  return { port, answered };
}

/** Sends `request` as written and returns the status line and body of the answer. */
function rawRequest(port: number, request: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
  });
}

const get = (port: number, path: string, host = `127.0.0.1:${port}`, method = 'GET') =>
  rawRequest(port, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);

test('each route answers its paths; the first route owning a path decides, undefined is 404', async (t) => {
  const { port, answered } = await started(t);
  t.regex((await get(port, '/exact')).text, /\r\n\r\nexact\n$/);
  t.regex((await get(port, '/under/a?x=1')).text, /\r\n\r\n\/under\/a x=1\n$/);
  t.regex((await get(port, '/a/b.txt')).text, /\r\n\r\ntxt\n$/);
  t.is((await get(port, '/under/missing')).status, 404);
  t.is((await get(port, '/elsewhere')).status, 404);
  t.deepEqual(answered, [
    { route: 'exact', status: 200 },
    { route: 'prefix', status: 200 },
    { route: 'test', status: 200 },
    { route: 'prefix', status: 404 },
    { route: undefined, status: 404 },
  ]);
});

test('every route is read-only: HEAD has the headers and no body, other methods are 405 with Allow', async (t) => {
  const { port } = await started(t);
  const head = await get(port, '/exact', undefined, 'HEAD');
  t.is(head.status, 200);
  t.regex(head.text, /content-length: 6\r\n/i);
  t.true(head.text.endsWith('\r\n\r\n'));
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
    for (const path of ['/exact', '/under/a', '/x.txt']) {
      const res = await get(port, path, undefined, method);
      t.is(res.status, 405, `${method} ${path}`);
      t.regex(res.text, /allow: GET, HEAD\r\n/i);
    }
  }
  t.is((await get(port, '/nowhere', undefined, 'POST')).status, 404, 'no route owns it: not found');
});

test('a query string is refused (400) by a route that reads none', async (t) => {
  const { port } = await started(t);
  t.is((await get(port, '/exact?x=1')).status, 400);
  t.is((await get(port, '/x.txt?')).status, 400);
  t.is((await get(port, '/under/a?x=1')).status, 200);
});

test('Host: localhost, IP literals, the listen host and configured names are served; any other name is 421', async (t) => {
  const { port } = await started(t, { allowedHosts: ['Cache.Example.Lan'] });
  for (const host of [
    'localhost',
    `localhost:${port}`,
    '127.0.0.1',
    `127.0.0.1:${port}`,
    '[::1]',
    `[::1]:${port}`,
    '10.1.2.3',
    'LOCALHOST',
    'cache.example.lan:80',
  ]) {
    t.is((await get(port, '/exact', host)).status, 200, host);
  }
  for (const host of [
    'attacker.example',
    `attacker.example:${port}`,
    'localhost.attacker.example',
    '127.0.0.1.nip.io',
    'bad host',
    '[not-ip]',
  ]) {
    const res = await get(port, '/exact', host);
    t.is(res.status, 421, host);
    t.notRegex(res.text, /exact\n$/, 'nothing of the route is sent');
  }
});

test('a server listening on a name accepts that name', async (t) => {
  const { port } = await started(t, { host: 'localhost' });
  t.is((await get(port, '/exact', `localhost:${port}`)).status, 200);
  t.is((await get(port, '/exact', 'other.example')).status, 421);
});

test('HTTP/0.9-style requests (no version, no headers) are refused; HTTP/1.0 without Host is served', async (t) => {
  const { port } = await started(t);
  const old = await rawRequest(port, 'GET /exact\r\n\r\n');
  t.is(old.status, 505);
  t.notRegex(old.text, /exact\n$/);
  const http10 = await rawRequest(port, 'GET /exact HTTP/1.0\r\n\r\n');
  t.is(http10.status, 200);
});
