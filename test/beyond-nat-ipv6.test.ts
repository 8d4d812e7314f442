/**
 * Beyond loopback over IPv6 (test/helpers/netns.ts): the same small Internet as test/beyond-nat.test.ts,
 * with homes on ULA prefixes (fd00:11::/64, fd00:12::/64) behind NAT66 routers (nftables masquerade,
 * inbound dropped) and the public side on 3fff::/20, the IPv6 documentation prefix of RFC 9637: never
 * routed, so safe in a lab, yet an address libp2p treats as public (unlike 2001:db8::/32 or any IPv4 lab
 * range), which is what a hole punch would need (docs/ARCHITECTURE.md, "Reachability behind NAT").
 * The 3fff:: addresses exist only inside the lab's namespaces; no namespace has a link to the host's.
 * Every node runs under TRUSTIX_LOCAL_ONLY, which admits the documentation prefixes; teardown removes
 * every namespace in every outcome.
 */
import { createInterface } from 'node:readline';
import { isPrivate } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import test from 'ava';
import { demoScenario } from '../node/demo/builds.ts';
import type { Reachability } from '../node/network/reachability.ts';
import { NetLab, netnsUnavailable } from './helpers/netns.ts';
import type { ConnectionReport } from './helpers/netns-node.ts';
import { labIdentity, startNetnsNode } from './helpers/netns-trustix.ts';

const unavailable = netnsUnavailable(['nft']);
if (unavailable !== undefined) console.log(`IPv6 namespace (NAT66) tests skipped: ${unavailable}`);
const nsTest = unavailable === undefined ? test.serial : test.serial.skip;
/** Entries the builder publishes: beyond libp2p's default relay limit (128 KiB), as in beyond-nat. */
const BUILDS = 600;
const LISTEN = ['/ip6/::/tcp/4001'];
const PUBLIC = { boot: '3fff:0:50::2', natA: '3fff:0:50::11', natB: '3fff:0:50::12' };

test('the lab premise: libp2p calls 3fff::/20 public and every other lab range private', (t) => {
  // If an upgrade of @libp2p/utils puts 3fff::/20 on its private list, no lab can reach a hole punch.
  t.false(isPrivate(multiaddr(`/ip6/${PUBLIC.natA}/udp/4001/quic-v1`)));
  for (const a of [
    '/ip6/2001:db8::1/tcp/1',
    '/ip6/fd00:11::2/tcp/1',
    '/ip4/203.0.113.1/tcp/1',
    '/ip4/10.50.0.2/tcp/1',
  ])
    t.true(isPrivate(multiaddr(a)), a);
});

/** Drop counter of a router's rule for unsolicited flows from the WAN (its input chain). */
function inboundDrops(ruleset: string): number {
  const m = /l4proto \{ tcp, udp \} counter packets (\d+)/.exec(ruleset);
  if (!m) throw new Error(`no inbound drop counter in:\n${ruleset}`);
  return Number(m[1]);
}

nsTest(
  'a NAT66 router masquerades its ULA home behind its 3fff::/20 address and drops unsolicited flows',
  async (t) => {
    const lab = await NetLab.create();
    t.teardown(() => lab.teardown());
    const pub = await lab.segment('pub', { ipv6: true });
    const home = await lab.segment('home', { ipv6: true });
    const server = await lab.namespace('server', { ipv6: true });
    await pub.attach(server, `${PUBLIC.boot}/64`);
    const router = await lab.natRouter('nat', pub, `${PUBLIC.natA}/64`, home, 'fd00:11::1/64', {
      family: 'ip6',
    });
    const client = await lab.namespace('client', { ipv6: true });
    await home.attach(client, 'fd00:11::2/64', { gateway: 'fd00:11::1' });
    t.regex(await lab.ruleset(router.ns), /table ip6 nat[\s\S]*masquerade/);

    // Outbound: a TCP connection from the home arrives from the router's public address.
    const listener = lab.spawn(server, process.execPath, [
      '-e',
      `require('node:net').createServer((s) => { console.log(s.remoteAddress); s.end(); })
       .listen(7001, '${PUBLIC.boot}', () => console.log('listening'));`,
    ]);
    const lines = createInterface({ input: listener.stdout! })[Symbol.asyncIterator]();
    t.is((await lines.next()).value, 'listening');
    await client.exec(process.execPath, [
      '-e',
      `const s = require('node:net').connect(7001, '${PUBLIC.boot}');
     s.setTimeout(20000, () => { console.error('no answer'); process.exit(1); });
     s.on('error', (e) => { console.error(e.message); process.exit(1); }); s.resume();`,
    ]);
    t.is((await lines.next()).value, PUBLIC.natA);

    // Inbound: the public side has no route into the ULA home, and a flow to the router itself is dropped.
    const before = inboundDrops(await lab.ruleset(router.ns));
    const unreachable = await server
      .exec(process.execPath, [
        '-e',
        `require('node:net').connect(4001, 'fd00:11::2').on('error', (e) => { console.log(e.code); process.exit(0); });`,
      ])
      .then((out) => out.trim());
    t.is(unreachable, 'ENETUNREACH');
    const knock = lab.spawn(server, process.execPath, [
      '-e',
      `require('node:net').connect(4001, '${PUBLIC.natA}').on('connect', () => console.log('connected'));`,
    ]);
    let connected = false;
    knock.stdout!.on('data', () => {
      connected = true;
    });
    // The SYN is counted as dropped (retransmissions too); wait for the counter, not for a timeout.
    for (;;) {
      if (inboundDrops(await lab.ruleset(router.ns)) > before) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    knock.kill();
    t.false(connected);
  },
);

nsTest(
  'behind two NAT66 routers, a user syncs a builder over the public node relay on 3fff::/20',
  async (t) => {
    const lab = await NetLab.create();
    t.teardown(() => lab.teardown());
    const pub = await lab.segment('pub', { ipv6: true });
    const homeA = await lab.segment('homeA', { ipv6: true });
    const homeB = await lab.segment('homeB', { ipv6: true });
    const bootNs = await lab.namespace('boot', { ipv6: true });
    await pub.attach(bootNs, `${PUBLIC.boot}/64`);
    await lab.natRouter('natA', pub, `${PUBLIC.natA}/64`, homeA, 'fd00:11::1/64', { family: 'ip6' });
    await lab.natRouter('natB', pub, `${PUBLIC.natB}/64`, homeB, 'fd00:12::1/64', { family: 'ip6' });
    const builderNs = await lab.namespace('builder', { ipv6: true });
    await homeA.attach(builderNs, 'fd00:11::2/64', { gateway: 'fd00:11::1' });
    const userNs = await lab.namespace('user', { ipv6: true });
    await homeB.attach(userNs, 'fd00:12::2/64', { gateway: 'fd00:12::1' });

    const bootId = await labIdentity(lab, 'boot');
    const bootstrap = [`/ip6/${PUBLIC.boot}/tcp/4001/p2p/${bootId.peerId}`];
    const home = {
      listen: LISTEN,
      bootstrap,
      dhtClientMode: 'auto' as const,
      relayReservations: 2,
      redial: { interval: 250, maxInterval: 2000 },
    };
    const [boot, builder, user] = await Promise.all([
      startNetnsNode(lab, bootNs, {
        role: 'bootstrap',
        dataDir: bootId.dataDir,
        // A public node announces its address, as `trustix bootstrap --announce` does.
        p2p: {
          listen: LISTEN,
          announce: [`/ip6/${PUBLIC.boot}/tcp/4001`],
          dhtClientMode: false,
          relayServer: true,
          gossipPeerExchange: true,
        },
      }),
      startNetnsNode(lab, builderNs, { role: 'node', name: 'mercury', p2p: home }),
      startNetnsNode(lab, userNs, { role: 'node', name: 'alice', p2p: home }),
    ]);

    const { logs } = await demoScenario(BUILDS);
    const logId = builder.info.logId!;
    await builder.request({ cmd: 'publish', entries: [...logs.mercury] });
    const started = performance.now();
    await user.request({ cmd: 'follow', vkey: builder.info.vkey! });
    await user
      .request({ cmd: 'synced', logId, size: logs.mercury.length, timeoutMs: 240_000 })
      .catch((err: unknown) => {
        t.log(`user's log:\n${user.stderr().slice(-8_000)}`);
        t.log(`builder's log:\n${builder.stderr().slice(-8_000)}`);
        throw err;
      });
    t.log(
      `follow -> verified copy of ${logs.mercury.length} entries over IPv6 NAT66: ${Math.round(performance.now() - started)} ms`,
    );
    t.like(await user.request({ cmd: 'verify', logId }), { size: logs.mercury.length });

    // The public node saw each home from its router's public address (NAT66), never from a ULA one.
    const atBoot = await boot.request<ConnectionReport[]>({ cmd: 'connections' });
    const fromBuilder = atBoot.filter((c) => c.peer === builder.info.peerId).map((c) => c.remoteAddr);
    t.true(fromBuilder.length > 0);
    t.true(
      fromBuilder.every((a) => a.startsWith(`/ip6/${PUBLIC.natA}/tcp/`)),
      fromBuilder.join(' '),
    );
    // Neither home can dial the other: the user reached the builder through the relay only.
    const toBuilder = (await user.request<ConnectionReport[]>({ cmd: 'connections' })).filter(
      (c) => c.peer === builder.info.peerId,
    );
    t.true(toBuilder.length > 0, 'the user connected to the builder');
    t.true(
      toBuilder.every((c) => c.relayed && c.remoteAddr.startsWith(`/ip6/${PUBLIC.boot}/tcp/4001/`)),
      toBuilder.map((c) => c.remoteAddr).join(' '),
    );
    const reach = await builder.request<Reachability>({ cmd: 'reachability' });
    t.is(reach.state, 'private');
    t.true(reach.relays >= 1, reach.summary);
    t.log(`builder: ${reach.summary}`);
  },
);
