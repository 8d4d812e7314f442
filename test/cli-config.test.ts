/**
 * The configuration through the command line (in this process, test/helpers/cli.ts): `config show` resolves defaults, file and flags (and
 * its text is a config file again), and `start` runs with the file: its HTTP address, its vote, and the
 * logs it names, followed at start.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { httpWarning } from '../cli/commands/start.ts';
import { effectiveConfig } from '../cli/effective-config.ts';
import { formatNixPublicKey, generateNixSecretKey, logKeyOf } from '../protocol/keys.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/log-fixture.ts';

test('config show: defaults, then the file, then flags; the text form is a config file again', async (t) => {
  const dir = await tempDir('trustix-cli-config-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'config.json'),
    '{\n  // mine\n  "vote": ["threshold 2/3"],\n  "batch": { "intervalMs": 100 },\n  "upstreams": ["file:///srv/cache"]\n}\n',
  );
  const shown = await runCli(['config', 'show', '--json', '--data-dir', dir, '--vote', 'trust mercury']);
  t.is(shown.code, 0, shown.stderr);
  const c = JSON.parse(shown.stdout);
  t.like(c, {
    dataDir: dir,
    configFile: join(dir, 'config.json'),
    http: '127.0.0.1:8565',
    vote: ['trust mercury'],
    upstreams: ['file:///srv/cache/'],
    batch: { intervalMs: 100, maxSubmissions: 10000 },
    sync: { maxConcurrentSyncs: 2 },
    // No STUN server configured: WebRTC could not punch through NATs, so it is off (and not loaded).
    webrtc: false,
    stun: [],
    stunPort: true,
  });
  const text = await runCli(['config', 'show', '--data-dir', dir]);
  await writeFile(join(dir, 'config.json'), text.stdout);
  const again = await runCli(['config', 'show', '--json', '--data-dir', dir]);
  t.is(again.code, 0, again.stderr);
  t.deepEqual({ ...JSON.parse(again.stdout), vote: null }, { ...c, vote: null });
  t.deepEqual(JSON.parse(again.stdout).vote, ['threshold 2/3']);
});

test('config show: WebRTC is on by default behind NAT with a STUN server, off without one or when public', async (t) => {
  const dir = await tempDir('trustix-cli-webrtc-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const shown = async (config: object, ...flags: string[]) => {
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    const r = await runCli(['config', 'show', '--json', '--data-dir', dir, ...flags]);
    t.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { webrtc: boolean };
  };
  const stun = ['stun:127.0.0.1:3478'];
  t.true((await shown({ stun })).webrtc);
  t.false((await shown({})).webrtc);
  t.false((await shown({ stun }, '--announce', '/ip4/127.0.0.1/tcp/8566')).webrtc);
  t.false((await shown({ stun, webrtc: false })).webrtc);
  t.true((await shown({ webrtc: true })).webrtc);
});

test('config show: with no "stun", the configured bootstrap peers answer STUN, so WebRTC is on behind NAT', async (t) => {
  const dir = await tempDir('trustix-cli-stun-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const shown = async (config: object, ...flags: string[]) => {
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    const r = await runCli(['config', 'show', '--json', '--data-dir', dir, ...flags]);
    t.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { webrtc: boolean; stun: string[]; stunPort: number | boolean };
  };
  const peer = 'QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN';
  const bootstrap = [`/ip4/127.0.0.1/tcp/4001/p2p/${peer}`, `/ip6/::1/tcp/4002/p2p/${peer}`];
  t.like(await shown({ bootstrap }), {
    webrtc: true,
    stun: ['stun:127.0.0.1:4001', 'stun:[::1]:4002'],
    stunPort: true,
  });
  t.like(await shown({}, '--bootstrap', bootstrap[0]!), { webrtc: true, stun: ['stun:127.0.0.1:4001'] });
  // Named STUN servers replace the default.
  t.like(await shown({ bootstrap, stun: ['stun:127.0.0.2:3478'] }), { stun: ['stun:127.0.0.2:3478'] });
  // A DNS name is never a default STUN server (WebRTC would resolve it outside the node's checks), and
  // under TRUSTIX_LOCAL_ONLY (as tests run) neither is a public address.
  t.like(await shown({ bootstrap: [`/dns4/boot.example.org/tcp/4001/p2p/${peer}`] }), {
    webrtc: false,
    stun: [],
  });
  t.like(await shown({ bootstrap: [`/ip4/104.131.131.82/tcp/4001/p2p/${peer}`] }), {
    webrtc: false,
    stun: [],
  });
  // A public node does not punch; it answers STUN instead (stunPort), unless told not to.
  t.like(await shown({ bootstrap }, '--announce', '/ip4/127.0.0.1/tcp/8566'), { webrtc: false });
  t.like(await shown({ stunPort: false }), { stunPort: false });
  t.like(await shown({ stunPort: 3478 }), { stunPort: 3478 });
  // What the node runs with: only a public node answers STUN.
  const responder = async (config: object, announce?: string[]) => {
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    const { init } = await effectiveConfig({ 'data-dir': dir, announce, io: { env: {} } } as never);
    return (init.p2p as { stunResponder?: unknown }).stunResponder;
  };
  const announce = ['/ip4/127.0.0.1/tcp/8566'];
  t.is(await responder({}), false);
  t.is(await responder({}, announce), true);
  t.deepEqual(await responder({ stunPort: 3478 }, announce), { port: 3478 });
  t.is(await responder({ stunPort: false }, announce), false);
});

test.serial('start runs with the config file and follows the logs it names', async (t) => {
  const dir = await tempDir('trustix-cli-start-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const mercury = generateNixSecretKey('mercury-1');
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      http: '127.0.0.1:0',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      vote: ['threshold 1/1'],
      follow: [{ log: formatNixPublicKey(mercury), name: 'mercury', weight: 2 }],
    }),
  );
  const stop = new AbortController();
  const lines: string[] = [];
  let up!: () => void;
  const ready = new Promise<void>((resolve) => (up = resolve));
  const run = runCli(['start', '--data-dir', dir], {
    signal: stop.signal,
    onLine: (line) => {
      lines.push(line);
      if (line.startsWith('Press Ctrl-C')) up();
    },
  });
  t.teardown(() => stop.abort('SIGINT'));
  // An early exit (a failure) ends the wait too, with its output.
  const early = await Promise.race([ready, run]);
  if (early !== undefined) t.fail(`start exited with ${early.code}: ${early.stdout}${early.stderr}`);
  t.true(
    lines.some((l) => l.includes('vote: threshold 1/1')),
    lines.join('\n'),
  );
  t.true(lines.some((l) => /^ {2}substituters = http:\/\/127\.0\.0\.1:\d+$/.test(l)));
  t.true(lines.some((l) => /^ {2}trusted-public-keys = .+-cache:/.test(l)));
  const logs = await runCli(['logs', '--json', '--data-dir', dir]);
  t.is(logs.code, 0, logs.stderr);
  t.like(JSON.parse(logs.stdout).followed[0], { name: 'mercury', weight: 2, logId: logKeyOf(mercury).logId });
  stop.abort('SIGINT');
  const stopped = await run;
  t.is(stopped.code, 0, stopped.stderr);
  t.is(stopped.stderr, 'SIGINT: stopping\n');
});

test('start warns when its HTTP server listens beyond loopback, and only then', (t) => {
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) t.is(httpWarning(host), null, host);
  for (const host of ['0.0.0.0', '::', '192.168.1.2', 'nix-cache.lan'])
    t.regex(httpWarning(host) ?? '', /beyond loopback: anyone who can reach it reads/, host);
});

test('the monitor, tile exchange and decision cache budgets are config settings that reach the node', async (t) => {
  const dir = await tempDir('trustix-cli-budgets-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      monitor: { maxPending: 64, peerBudgetPerSecond: 1, peerBudgetBurst: 5 },
      tiles: { maxRequestsPerSubnet: 500, uploadSlots: 2, fanout: 5 },
      decisions: { maxCachedBytes: 1048576 },
      sync: { minFreeBytes: 0, minBytesPerSecond: 1024 },
    }),
  );
  const shown = await runCli(['config', 'show', '--json', '--data-dir', dir]);
  t.is(shown.code, 0, shown.stderr);
  t.like(JSON.parse(shown.stdout), {
    monitor: { maxPending: 64, peerBudgetPerSecond: 1, peerBudgetBurst: 5, budgetPerSecond: 10 },
    tiles: { maxRequestsPerSubnet: 500, maxRequestsPerPeer: 1000, uploadSlots: 2, fanout: 5 },
    decisions: { maxCachedBytes: 1048576 },
    sync: { minFreeBytes: 0, minBytesPerSecond: 1024, maxLogBytes: 16 * 1024 ** 3 },
  });
  const { init } = await effectiveConfig({ 'data-dir': dir, io: { env: {} } } as never);
  t.like(init, {
    monitor: {
      maxPending: 64,
      peerBudget: { perSecond: 1, burst: 5 },
      budget: { perSecond: 10, burst: 100 },
    },
    tiles: { maxRequestsPerSubnet: 500, uploads: { slots: 2, fanout: 5 } },
    decisions: { maxCachedBytes: 1048576 },
    follower: { minFreeBytes: 0, minBytesPerSecond: 1024 },
  });
  await writeFile(join(dir, 'config.json'), '{ "monitor": { "maxPending": 0 } }');
  const bad = await runCli(['config', 'show', '--data-dir', dir]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /monitor\.maxPending/);
  await writeFile(join(dir, 'config.json'), '{ "tiles": { "uploadSlots": 0 } }');
  const noSlots = await runCli(['config', 'show', '--data-dir', dir]);
  t.is(noSlots.code, 2);
  t.regex(noSlots.stderr, /tiles\.uploadSlots/);
  await writeFile(join(dir, 'config.json'), '{ "tiles": { "fanout": 1.5 } }');
  const badFanout = await runCli(['config', 'show', '--data-dir', dir]);
  t.is(badFanout.code, 2);
  t.regex(badFanout.stderr, /tiles\.fanout/);
});
