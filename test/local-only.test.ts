/**
 * TRUSTIX_LOCAL_ONLY=1 (node/network/local-only.ts): a node started with every default contacts nothing
 * but the addresses it is given. Proven in a fresh network namespace whose only non-loopback interface
 * is a veth to a second namespace (a dead end: no forwarding, no way out) carrying the default route, so
 * any attempt to reach beyond loopback (a dial, mDNS, UPnP, even an ARP for the gateway) shows up in that
 * interface's packet counter. A control run without the switch, given one address on the veth, shows
 * that the counter sees the node's traffic.
 */
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { multiaddr } from '@multiformats/multiaddr';
import test from 'ava';
import { defaultBootstrapPeers } from '../bootstrap/peers.ts';
import { createLibp2pNode } from '../node/network/libp2p-node.ts';
import { isLocalMultiaddr, isLocalOnly, localOnlyGater } from '../node/network/local-only.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { NetLab, type Netns, netnsUnavailable } from './helpers/netns.ts';

const CLI = join(import.meta.dirname, '..', 'cli', 'bin', 'trustix.js');
/** How long a started node is watched for traffic: bootstrap dials, mDNS and UPnP all begin at start. */
const WATCH_MS = 3_000;

const unavailable = netnsUnavailable();
if (unavailable !== undefined) console.log(`local-only namespace tests skipped: ${unavailable}`);
const nsTest = unavailable === undefined ? test : test.skip;

test('the switch reads TRUSTIX_LOCAL_ONLY: any value but empty or 0', (t) => {
  t.true(isLocalOnly({ TRUSTIX_LOCAL_ONLY: '1' }));
  t.true(isLocalOnly({ TRUSTIX_LOCAL_ONLY: 'yes' }));
  t.false(isLocalOnly({ TRUSTIX_LOCAL_ONLY: '0' }));
  t.false(isLocalOnly({ TRUSTIX_LOCAL_ONLY: '' }));
  t.false(isLocalOnly({}));
  // The test runner sets it for every test (scripts/test.mjs, package.json's ava environment).
  t.true(isLocalOnly());
});

test('under the switch the built-in bootstrap list is empty', (t) => {
  t.deepEqual(defaultBootstrapPeers({ TRUSTIX_LOCAL_ONLY: '1' }), []);
});

test('a local-only node refuses a STUN server outside the non-routable ranges, or named by DNS', async (t) => {
  for (const url of ['stun:74.125.250.129:19302', 'stun:stun.l.google.com:19302', 'stun:[2606:4700::1]'])
    await t.throwsAsync(
      createLibp2pNode({ localOnly: true, listen: ['/ip4/127.0.0.1/tcp/0'], webrtc: { stun: [url] } }),
      { instanceOf: RangeError, message: /not a local address/ },
      url,
    );
  const node = await createLibp2pNode({
    localOnly: true,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    webrtc: { stun: ['stun:10.50.0.2:3478', 'stun:[fd00::2]:3478'] },
  });
  await node.stop();
  t.pass();
});

test('a local-only node dials loopback and non-routable ranges only, never a DNS name', async (t) => {
  const peer = '/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq';
  for (const a of [
    '/ip4/127.0.0.1/tcp/1',
    '/ip4/10.1.2.3/tcp/1',
    '/ip4/192.168.1.2/tcp/1',
    '/ip4/172.20.0.1/udp/1/quic-v1',
    '/ip6/::1/tcp/1',
    '/ip6/fd00::1/tcp/1',
    '/ip6/2001:db8::1/udp/1/quic-v1',
    '/ip6/3fff:0:50::2/udp/4001/quic-v1',
    '/ip6/3fff:fff:ffff::1/tcp/1',
    `/ip4/10.0.0.1/tcp/1${peer}/p2p-circuit${peer}`,
    peer,
  ])
    t.true(isLocalMultiaddr(multiaddr(a)), a);
  for (const a of [
    '/ip4/1.1.1.1/tcp/4001',
    '/ip4/104.131.131.82/tcp/4001',
    '/ip6/2604:a880:1:20::203:d001/tcp/4001',
    // Just outside the documentation prefixes 3fff::/20 and 2001:db8::/32.
    '/ip6/3fff:1000::1/tcp/1',
    '/ip6/2001:db9::1/tcp/1',
    '/dnsaddr/bootstrap.libp2p.io',
    '/dns4/localhost/tcp/1',
    `/ip4/1.1.1.1/tcp/1${peer}/p2p-circuit${peer}`,
  ])
    t.false(isLocalMultiaddr(multiaddr(a)), a);
  const gater = localOnlyGater({ denyDialMultiaddr: (ma) => ma.toString().includes('/tcp/2') });
  t.true(await gater.denyDialMultiaddr!(multiaddr('/ip4/8.8.8.8/tcp/1')));
  t.true(await gater.denyDialMultiaddr!(multiaddr('/ip4/127.0.0.1/tcp/2')), 'the inner gater still applies');
  t.false(await gater.denyDialMultiaddr!(multiaddr('/ip4/127.0.0.1/tcp/1')));
});

/** A namespace whose default route leads into a dead end: the node's only way beyond loopback. */
async function deadEnd(lab: NetLab): Promise<{ host: Netns; ifName: string }> {
  const host = await lab.namespace('host');
  const wall = await lab.namespace('wall');
  const { a } = await lab.link(host, '10.213.0.1/24', wall, '10.213.0.2/24', { aGateway: '10.213.0.2' });
  return { host, ifName: a };
}

/** Runs `trustix start` in `ns` until it says it runs; the process. */
async function startNode(
  lab: NetLab,
  ns: Netns,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<ChildProcess> {
  const dir = await tempDir('trustix-local-only');
  lab.onTeardown(() => rm(dir, { recursive: true, force: true }));
  const child = lab.spawn(ns, process.execPath, [CLI, 'start', '--data-dir', dir, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    // Generous: beside the two-NAT tests' six node processes on a loaded machine, with dist/ stale (so
    // tsx compiles the sources), a start took over 60 s; the bound catches a node that never starts.
    const timer = setTimeout(() => reject(new Error(`node did not start within 180 s: ${err}`)), 180_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('Press Ctrl-C')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited (${code}) before it started: ${err}`));
    });
  });
  return child;
}

const envWith = (localOnly: boolean): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  if (localOnly) env['TRUSTIX_LOCAL_ONLY'] = '1';
  else delete env['TRUSTIX_LOCAL_ONLY'];
  return env;
};

nsTest('a node started with defaults under TRUSTIX_LOCAL_ONLY sends no packet beyond loopback', async (t) => {
  const lab = await NetLab.create();
  t.teardown(() => lab.teardown());
  const { host, ifName } = await deadEnd(lab);
  const before = await lab.counters(host, ifName);
  await startNode(lab, host, [], envWith(true));
  await new Promise((r) => setTimeout(r, WATCH_MS));
  const after = await lab.counters(host, ifName);
  t.is(after.txPackets - before.txPackets, 0, 'packets sent on the non-loopback interface');
  const sockets = await host.exec('ss', ['-Htn', 'state', 'all']);
  const outside = sockets
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => !/\s(127\.\d+\.\d+\.\d+|\[::1\]|\[::ffff:127\.[\d.]+\]):\d+\s+\S+$/.test(l.trim()))
    .filter((l) => !/\s(\*|0\.0\.0\.0|\[::\]):\*\s*$/.test(l.trim()));
  t.deepEqual(outside, [], 'TCP sockets with a peer beyond loopback');
});

nsTest('control: without the switch, the counter sees the node dial the address it was given', async (t) => {
  const lab = await NetLab.create();
  t.teardown(() => lab.teardown());
  const { host, ifName } = await deadEnd(lab);
  const before = await lab.counters(host, ifName);
  // The one address given lies on the veth (the dead end's own address, where nothing listens).
  const given = '/ip4/10.213.0.2/tcp/4001/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq';
  await startNode(lab, host, ['--bootstrap', given], envWith(false));
  const deadline = Date.now() + 30_000;
  let after = await lab.counters(host, ifName);
  while (after.txPackets === before.txPackets && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    after = await lab.counters(host, ifName);
  }
  t.true(after.txPackets > before.txPackets, 'the dial shows in the counter');
});
