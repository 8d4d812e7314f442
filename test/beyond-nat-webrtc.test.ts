/**
 * Hole punching with WebRTC, in the IPv4 two-NAT lab of test/beyond-nat.test.ts: a public segment holding
 * the bootstrap node (DHT server, gossip, circuit relay, and STUN on the UDP side of its TCP port:
 * node/network/stun-responder.ts), and two homes behind their own NAT routers (nftables masquerade,
 * inbound dropped, no port forwarding). A builder behind NAT A and a user behind NAT B, configured with
 * nothing but the bootstrap node's address (no STUN server named), first meet through the relay; the
 * user's node then opens a direct WebRTC connection to the builder (signalled over the relayed one, ICE
 * punching both NATs with the server-reflexive addresses the bootstrap node told each side), and the log
 * syncs over it. Every node runs under TRUSTIX_LOCAL_ONLY; the routers count anything sent beyond the lab
 * (none may be).
 */
import test from 'ava';
import { demoScenario } from '../node/demo/builds.ts';
import { NetLab, netnsUnavailable } from './helpers/netns.ts';
import type { ConnectionReport, StunReport } from './helpers/netns-node.ts';
import { labIdentity, startNetnsNode } from './helpers/netns-trustix.ts';

const unavailable = netnsUnavailable(['nft']);
if (unavailable !== undefined) console.log(`namespace (NAT) tests skipped: ${unavailable}`);
const nsTest = unavailable === undefined ? test.serial : test.serial.skip;
const BUILDS = 600;
const LISTEN = ['/ip4/0.0.0.0/tcp/4001'];

nsTest(
  'behind two NATs, the user punches a direct WebRTC connection to the builder and syncs over it',
  async (t) => {
    const lab = await NetLab.create();
    t.teardown(() => lab.teardown());
    const pub = await lab.segment('pub');
    const homeA = await lab.segment('homeA');
    const homeB = await lab.segment('homeB');
    const bootNs = await lab.namespace('boot');
    await pub.attach(bootNs, '10.50.0.2/24');
    const natA = await lab.natRouter('natA', pub, '10.50.0.11/24', homeA, '192.168.11.1/24');
    const natB = await lab.natRouter('natB', pub, '10.50.0.12/24', homeB, '192.168.12.1/24');
    const builderNs = await lab.namespace('builder');
    await homeA.attach(builderNs, '192.168.11.2/24', { gateway: '192.168.11.1' });
    const userNs = await lab.namespace('user');
    await homeB.attach(userNs, '192.168.12.2/24', { gateway: '192.168.12.1' });

    // Counts the STUN requests reaching the bootstrap node from each router (UDP to its TCP port number).
    await bootNs.exec('nft', ['add table ip stunlab']);
    await bootNs.exec('nft', [
      'add chain ip stunlab input { type filter hook input priority filter; policy accept; }',
    ]);
    for (const [name, router] of [
      ['natA', natA.wanAddress],
      ['natB', natB.wanAddress],
    ])
      await bootNs.exec('nft', [
        `add rule ip stunlab input ip saddr ${router} udp dport 4001 counter comment "${name}"`,
      ]);
    const stunFrom = async (name: string) =>
      Number(
        new RegExp(`counter packets (\\d+) bytes \\d+ comment "${name}"`).exec(
          await lab.ruleset(bootNs),
        )?.[1],
      );

    const bootId = await labIdentity(lab, 'boot');
    const bootstrap = [`/ip4/10.50.0.2/tcp/4001/p2p/${bootId.peerId}`];
    const home = {
      listen: LISTEN,
      bootstrap,
      dhtClientMode: 'auto' as const,
      relayReservations: 2,
      redial: { interval: 250, maxInterval: 2000 },
      // WebRTC with no STUN server named: the bootstrap node's address is the default one.
      webrtc: true,
    };
    const [boot, builder, user] = await Promise.all([
      startNetnsNode(lab, bootNs, {
        role: 'bootstrap',
        dataDir: bootId.dataDir,
        p2p: { listen: LISTEN, dhtClientMode: false, relayServer: true, gossipPeerExchange: true },
      }),
      startNetnsNode(lab, builderNs, { role: 'node', name: 'mercury', p2p: home }),
      startNetnsNode(lab, userNs, { role: 'node', name: 'alice', p2p: home }),
    ]);
    const logs = (await demoScenario(BUILDS)).logs;
    const logId = builder.info.logId!;
    const dumpLogs = (err: unknown) => {
      t.log(`user's log:\n${user.stderr().slice(-8_000)}`);
      t.log(`builder's log:\n${builder.stderr().slice(-8_000)}`);
      throw err;
    };
    await builder.request({ cmd: 'publish', entries: [...logs.mercury] });
    const started = performance.now();
    await user.request({ cmd: 'follow', vkey: builder.info.vkey! });
    // The user reaches the builder through the relay first (its only address), then upgrades.
    const direct = await user
      .request<ConnectionReport>({ cmd: 'direct', peer: builder.info.peerId, timeoutMs: 75_000 })
      .catch(dumpLogs);
    const directMs = performance.now() - started;
    t.regex(direct.remoteAddr, /\/p2p-circuit\/webrtc\/p2p\//);
    t.false(direct.limited, 'a WebRTC connection is not under the relay limits');
    await user
      .request({ cmd: 'synced', logId, size: logs.mercury.length, timeoutMs: 75_000 })
      .catch(dumpLogs);
    const syncMs = performance.now() - started;
    t.like(await user.request({ cmd: 'verify', logId }), { size: logs.mercury.length });

    const toBuilder = (await user.request<ConnectionReport[]>({ cmd: 'connections' })).filter(
      (c) => c.peer === builder.info.peerId,
    );
    t.true(
      toBuilder.some((c) => c.relayed),
      `the user met the builder through the relay first: ${toBuilder.map((c) => c.remoteAddr).join(' ')}`,
    );
    // ICE learnt each home's NAT mapping from the bootstrap node: STUN requests came from both routers'
    // WAN addresses to its UDP port 4001, and it answered them.
    const stun = await boot.request<StunReport>({ cmd: 'stun' });
    t.deepEqual(stun.addresses, ['0.0.0.0:4001']);
    t.true(stun.answered >= 2, `answered ${stun.answered}`);
    t.is(stun.limited, 0);
    const fromA = await stunFrom('natA');
    const fromB = await stunFrom('natB');
    t.true(
      fromA > 0 && fromB > 0,
      `STUN requests from ${natA.wanAddress}: ${fromA}, ${natB.wanAddress}: ${fromB}`,
    );
    // Nothing left the lab: no STUN, TURN or ICE packet to any address outside its ranges.
    t.is(await lab.outsidePackets(natA.ns), 0);
    t.is(await lab.outsidePackets(natB.ns), 0);
    t.log(`follow -> direct WebRTC connection: ${Math.round(directMs)} ms (${direct.remoteAddr})`);
    t.log(`follow -> verified copy of ${logs.mercury.length} entries: ${Math.round(syncMs)} ms`);
    t.log(`STUN answered by the bootstrap node: ${stun.answered} (${fromA} from NAT A, ${fromB} from NAT B)`);
  },
);
