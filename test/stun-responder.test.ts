/**
 * The STUN responder (node/network/stun-responder.ts; its message format, node/network/stun-message.ts)
 * against real UDP sockets on loopback: it answers a Binding Request with the requester's own address,
 * drops every malformed or unwanted packet without an answer, and stops answering over its rate limits; a
 * relaying libp2p node answers STUN on the UDP side of its TCP port, and a node behind NAT takes its
 * bootstrap peers as STUN servers.
 */

import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { rm } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import { createLibp2pNode, stunOfBootstrap } from '../node/index.ts';
import { bindingResponse, MAX_STUN_REQUEST_BYTES, STUN_MAGIC_COOKIE } from '../node/network/stun-message.ts';
import { StunResponder, stunSourceKey } from '../node/network/stun-responder.ts';
import { stunOfPeers } from '../node/network/stun-servers.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/log-fixture.ts';

const FINGERPRINT_XOR = 0x5354554e;

/** A Binding Request: `attributes` raw (already padded), optionally FINGERPRINT appended. */
function request(
  options: {
    type?: number;
    cookie?: number;
    attributes?: Uint8Array;
    fingerprint?: boolean;
    length?: number;
  } = {},
): { packet: Buffer; transaction: Buffer } {
  const transaction = randomBytes(12);
  const attributes = Buffer.from(options.attributes ?? []);
  const bodyBytes = attributes.length + (options.fingerprint ? 8 : 0);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(options.type ?? 0x0001, 0);
  header.writeUInt16BE(options.length ?? bodyBytes, 2);
  header.writeUInt32BE(options.cookie ?? STUN_MAGIC_COOKIE, 4);
  transaction.copy(header, 8);
  let packet = Buffer.concat([header, attributes]);
  if (options.fingerprint) {
    const fp = Buffer.alloc(8);
    fp.writeUInt16BE(0x8028, 0);
    fp.writeUInt16BE(4, 2);
    fp.writeUInt32BE((crc32(packet) ^ FINGERPRINT_XOR) >>> 0, 4);
    packet = Buffer.concat([packet, fp]);
  }
  return { packet, transaction };
}

function attribute(type: number, value: Uint8Array): Buffer {
  const a = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
  a.writeUInt16BE(type, 0);
  a.writeUInt16BE(value.length, 2);
  a.set(value, 4);
  return a;
}

/** The address and port an answer's XOR-MAPPED-ADDRESS tells, after checking the answer's form. */
function mappedAddress(t: ExecutionContext, answer: Buffer, transaction: Buffer): string {
  t.is(answer.readUInt16BE(0), 0x0101, 'Binding Success Response');
  t.is(answer.readUInt16BE(2) + 20, answer.length);
  t.is(answer.readUInt32BE(4), STUN_MAGIC_COOKIE);
  t.deepEqual(answer.subarray(8, 20), transaction);
  t.is(answer.readUInt16BE(20), 0x0020, 'XOR-MAPPED-ADDRESS first');
  const family = answer.readUInt8(25);
  const port = answer.readUInt16BE(26) ^ (STUN_MAGIC_COOKIE >>> 16);
  const mask = answer.subarray(4, family === 1 ? 8 : 20);
  const ip = Buffer.from(answer.subarray(28, 28 + mask.length).map((b, i) => b ^ mask[i]!));
  const fp = 28 + mask.length;
  t.is(answer.readUInt16BE(fp), 0x8028, 'FINGERPRINT last');
  t.is(answer.readUInt32BE(fp + 4), (crc32(answer.subarray(0, fp)) ^ FINGERPRINT_XOR) >>> 0);
  const text =
    family === 1
      ? [...ip].join('.')
      : (ip.toString('hex').match(/.{4}/g) ?? []).map((h) => h.replace(/^0+(?=.)/, '')).join(':');
  return `${text}|${port}`;
}

/** A client socket bound on `host`, with the answers it receives in order. */
async function client(
  t: ExecutionContext,
  host = '127.0.0.1',
): Promise<{ socket: Socket; answers: Buffer[]; next(): Promise<Buffer> }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  t.teardown(() => socket.close());
  const answers: Buffer[] = [];
  socket.on('message', (msg) => {
    answers.push(msg);
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  let taken = 0;
  return {
    socket,
    answers,
    next: () =>
      taken < answers.length
        ? Promise.resolve(answers[taken++]!)
        : new Promise((resolve) => socket.once('message', () => resolve(answers[taken++]!))),
  };
}

async function responder(
  t: ExecutionContext,
  init: ConstructorParameters<typeof StunResponder>[0] = {},
  host = '127.0.0.1',
) {
  const r = new StunResponder(init);
  t.teardown(() => r.close());
  const port = await r.listen(host, 0);
  return { r, port };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

test("a Binding Request is answered with the requester's own address and port (IPv4)", async (t) => {
  const { r, port } = await responder(t);
  const c = await client(t);
  for (const fingerprint of [false, true]) {
    const { packet, transaction } = request({ fingerprint });
    c.socket.send(packet, port, '127.0.0.1');
    t.is(mappedAddress(t, await c.next(), transaction), `127.0.0.1|${c.socket.address().port}`);
  }
  t.is(r.answered, 2);
});

test('a Binding Request over IPv6 is answered with an IPv6 XOR-MAPPED-ADDRESS', async (t) => {
  const { port } = await responder(t, {}, '::1').catch(() => ({ port: undefined }));
  if (port === undefined) return t.pass('no IPv6 loopback here');
  const c = await client(t, '::1');
  const { packet, transaction } = request({ attributes: attribute(0x8022, Buffer.from('libjuice')) });
  c.socket.send(packet, port, '::1');
  t.is(mappedAddress(t, await c.next(), transaction), `0:0:0:0:0:0:0:1|${c.socket.address().port}`);
});

test('one socket per host and port, even when asked twice at once (a wildcard listener reports many addresses)', async (t) => {
  const { r, port } = await responder(t);
  const again = await Promise.all([r.listen('127.0.0.1', port), r.listen('127.0.0.1', port)]);
  t.deepEqual(again, [port, port]);
  const fresh = await Promise.all([r.listen('127.0.0.2', 0), r.listen('127.0.0.2', 0)]);
  t.is(fresh[0], fresh[1]);
  t.deepEqual(r.addresses(), [`127.0.0.1:${port}`, `127.0.0.2:${fresh[0]}`]);
});

test('malformed or unwanted packets get no answer', async (t) => {
  const { r, port } = await responder(t);
  const c = await client(t);
  const good = request();
  const withFp = request({ fingerprint: true }).packet;
  const badFp = Buffer.from(withFp);
  badFp[badFp.length - 1]! ^= 1;
  const bad: [string, Buffer][] = [
    ['shorter than the header', good.packet.subarray(0, 19)],
    ['another magic cookie', request({ cookie: 0x2112a443 }).packet],
    ['a length field longer than the packet', request({ length: 4 }).packet],
    [
      'a length field shorter than the packet',
      request({ attributes: attribute(0x8022, Buffer.from('abcd')), length: 0 }).packet,
    ],
    ['a length not a multiple of 4', Buffer.concat([request({ length: 2 }).packet, Buffer.alloc(2)])],
    [
      'an attribute overrunning the message',
      request({ attributes: Buffer.from([0x80, 0x22, 0x00, 0x08, 1, 2, 3, 4]) }).packet,
    ],
    ['a Binding Indication', request({ type: 0x0011 }).packet],
    ['a Binding Success Response', Buffer.from(bindingResponse(randomBytes(12), '10.0.0.1', 1))],
    ['another method (Allocate)', request({ type: 0x0003 }).packet],
    ['leading bits set (not STUN)', request({ type: 0x4001 }).packet],
    ['a FINGERPRINT that does not match', badFp],
    [
      'a FINGERPRINT not last',
      request({ attributes: Buffer.concat([withFp.subarray(20), attribute(0x8022, Buffer.from('x'))]) })
        .packet,
    ],
    [
      'MESSAGE-INTEGRITY (credentials it does not hold)',
      request({ attributes: attribute(0x0008, randomBytes(20)) }).packet,
    ],
    ['USERNAME', request({ attributes: attribute(0x0006, Buffer.from('user')) }).packet],
    [
      'over the size cap',
      request({ attributes: attribute(0x8022, Buffer.alloc(MAX_STUN_REQUEST_BYTES)) }).packet,
    ],
    ['empty', Buffer.alloc(0)],
  ];
  for (const [, packet] of bad) c.socket.send(packet, port, '127.0.0.1');
  // Loopback UDP keeps the order: once the good request is answered, every bad one was handled before it.
  c.socket.send(good.packet, port, '127.0.0.1');
  const answer = await c.next();
  t.deepEqual(answer.subarray(8, 20), good.transaction, "the first answer is the good request's");
  t.is(c.answers.length, 1);
  t.is(r.malformed, bad.length);
  t.is(r.answered, 1);
});

test('a flood from one address is cut at its rate limit, and all sources together at the overall one', async (t) => {
  const { r, port } = await responder(t, {
    perSource: { perSecond: 0.001, burst: 3 },
    overall: { perSecond: 0.001, burst: 5 },
  });
  const a = await client(t, '127.0.0.1');
  for (let i = 0; i < 50; i++) a.socket.send(request().packet, port, '127.0.0.1');
  await until(() => r.answered + r.limited === 50);
  t.is(r.answered, 3, 'one source: its burst');
  t.is(r.limited, 47);
  // Another source address gets its own bucket, until the overall one is spent.
  const b = await client(t, '127.0.0.2');
  for (let i = 0; i < 10; i++) b.socket.send(request().packet, port, '127.0.0.1');
  await until(() => r.answered + r.limited === 60);
  t.is(r.answered, 5, 'all sources: the overall burst');
  await until(() => a.answers.length + b.answers.length === 5);
  t.is(a.answers.length, 3);
  t.is(b.answers.length, 2);
});

test('the rate limit counts an IPv6 /64 as one source (a host may send from any address of its /64)', (t) => {
  const key = stunSourceKey('2001:db8:1:2::1');
  t.is(stunSourceKey('2001:db8:1:2:ffff:ffff:ffff:fffe'), key);
  t.is(stunSourceKey('2001:0db8:0001:0002:0:0:0:7%eth0'), key, 'any spelling, any zone');
  t.not(stunSourceKey('2001:db8:1:3::1'), key, 'the next /64 is another source');
  t.is(stunSourceKey('127.0.0.2'), '127.0.0.2');
  t.is(stunSourceKey('::ffff:127.0.0.2'), '127.0.0.2', 'IPv4-mapped: its IPv4 address');
});

test('a relaying node answers STUN on the UDP side of its TCP port; a node behind NAT does not', async (t) => {
  const relay = await createLibp2pNode({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    relayServer: true,
    localOnly: true,
  });
  t.teardown(() => relay.stop());
  const plain = await createLibp2pNode({ listen: ['/ip4/127.0.0.1/tcp/0'], localOnly: true });
  t.teardown(() => plain.stop());
  t.is(plain.services.stun, undefined);
  const tcpPort = Number(
    relay
      .getMultiaddrs()[0]!
      .getComponents()
      .find((c) => c.name === 'tcp')?.value,
  );
  const stun = relay.services.stun!;
  await until(() => stun.addresses().length > 0);
  t.deepEqual(stun.addresses(), [`127.0.0.1:${tcpPort}`]);
  const c = await client(t);
  const { packet, transaction } = request({ fingerprint: true });
  c.socket.send(packet, tcpPort, '127.0.0.1');
  t.is(mappedAddress(t, await c.next(), transaction), `127.0.0.1|${c.socket.address().port}`);
  // Turned off explicitly, a relay answers nothing.
  const quiet = await createLibp2pNode({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    relayServer: true,
    stunResponder: false,
    localOnly: true,
  });
  t.teardown(() => quiet.stop());
  t.is(quiet.services.stun, undefined);
});

test("the default STUN servers: the bootstrap peers' IP addresses at their TCP ports, local ones only under local-only", (t) => {
  const peer = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo';
  const list = [
    `/ip4/10.50.0.2/tcp/4001/p2p/${peer}`,
    `/ip6/fd00::2/tcp/4001/p2p/${peer}`,
    `/ip4/104.131.131.82/tcp/8566/p2p/${peer}`,
    `/dns4/boot.example.org/tcp/8566/p2p/${peer}`,
    `/ip4/10.50.0.2/tcp/4001/p2p/${peer}`,
  ];
  t.deepEqual(stunOfBootstrap(list, false), [
    'stun:10.50.0.2:4001',
    'stun:[fd00::2]:4001',
    'stun:104.131.131.82:8566',
  ]);
  t.deepEqual(stunOfBootstrap(list, true), ['stun:10.50.0.2:4001', 'stun:[fd00::2]:4001']);
});

test('connected Trustix relays are STUN servers too; a peer that does not relay is not', async (t) => {
  const start = (relayServer: boolean) =>
    createLibp2pNode({
      listen: ['/ip4/127.0.0.1/tcp/0'],
      relayServer,
      localOnly: true,
      userAgent: 'trustix/test',
    });
  const [relay, plain, user] = await Promise.all([start(true), start(false), start(false)]);
  t.teardown(() => Promise.all([relay, plain, user].map((n) => n.stop())));
  // The user dials both; identify tells it their agent and protocols.
  await Promise.all([relay, plain].map((n) => user.dial(n.getMultiaddrs()[0]!)));
  const port = relay
    .getMultiaddrs()[0]!
    .getComponents()
    .find((c) => c.name === 'tcp')?.value;
  const expected = [`stun:127.0.0.1:${port}`];
  let found = await stunOfPeers(user, true);
  while (found.length === 0) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    found = await stunOfPeers(user, true);
  }
  t.deepEqual(found, expected);
  // The relay's own connection to the user is inbound: its remote port is no listen port, so not used.
  t.deepEqual(await stunOfPeers(relay, true), []);
});

/** Asks `port` on loopback for this client's address, re-sending every 200 ms as a STUN client does (RFC 5389 7.2.1). */
async function ask(t: ExecutionContext, port: number): Promise<string> {
  const c = await client(t);
  const { packet, transaction } = request({ fingerprint: true });
  const send = () => c.socket.send(packet, port, '127.0.0.1');
  send();
  const again = setInterval(send, 200);
  try {
    return mappedAddress(t, await c.next(), transaction).replace(`|${c.socket.address().port}`, '|me');
  } finally {
    clearInterval(again);
  }
}

for (const [title, flags] of [
  ['on its TCP port', []],
  ['on --stun-port', ['--stun-port']],
] as const)
  test.serial(`trustix bootstrap answers STUN ${title}`, async (t) => {
    const dir = await tempDir('trustix-stun-bootstrap-');
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    let udpPort: number | undefined;
    const args = ['bootstrap', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0'];
    if (flags.length > 0) {
      // A free UDP port, found by binding one and letting it go.
      const probe = createSocket('udp4');
      await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
      udpPort = probe.address().port;
      await new Promise<void>((resolve) => probe.close(resolve));
      args.push(flags[0]!, String(udpPort));
    }
    const stop = new AbortController();
    const lines: string[] = [];
    let up!: () => void;
    const ready = new Promise<void>((resolve) => (up = resolve));
    const run = runCli(args, {
      signal: stop.signal,
      env: { ...process.env, TRUSTIX_LOCAL_ONLY: '1' },
      onLine: (line) => {
        lines.push(line);
        if (line.startsWith('Give users')) up();
      },
    });
    t.teardown(() => stop.abort('SIGINT'));
    const early = await Promise.race([ready, run]);
    if (early !== undefined) return t.fail(`bootstrap exited with ${early.code}: ${early.stderr}`);
    const tcpPort = Number(
      lines.map((l) => /^ {2}\/ip4\/127\.0\.0\.1\/tcp\/(\d+)\//.exec(l)?.[1]).find(Boolean),
    );
    t.is(await ask(t, udpPort ?? tcpPort), '127.0.0.1|me');
    stop.abort('SIGINT');
    t.is((await run).code, 0);
  });
