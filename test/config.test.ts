/**
 * The config file: what it accepts (comments, trailing commas, shorthand and object deciders), and that
 * every bad input is refused with the file, the line and the option named.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { ConfigError, loadConfig, MAX_CONFIG_BYTES, parseConfig } from '../node/config/config.ts';
import { InsecurePermissionsError } from '../node/errors.ts';
import { tempDir } from './helpers/log-fixture.ts';

const FILE = '/etc/trustix/config.json';
const W1 = 'w1-witness+86f40954+BIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c';
const W2 = 'w2-witness+6bc57828+BIE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU';
/** A config following one log with `fields` (W1 and W2 stand for two witness vkeys). */
function witnessed(fields: string): string {
  const text = fields.replaceAll('W1', JSON.stringify(W1)).replaceAll('W2', JSON.stringify(W2));
  return `{ "follow": [{ "log": "a:Kx3Nlff0M+XjD1JjbWrWANVZCjyJ/fyQjF1hWI8gu/g=", ${text} }] }`;
}

test('a witness quorum per followed log, and witnessing', (t) => {
  const c = parseConfig(witnessed('"witnesses": [W1, W2], "witnessQuorum": 2'), FILE);
  t.deepEqual(c.follow?.[0]?.witnesses, [W1, W2]);
  t.is(c.follow?.[0]?.witnessQuorum, 2);
  t.is(parseConfig('{ "witness": true }', FILE).witness, true);
});

test('a full config: comments, trailing commas, shorthand and object deciders, upstreams normalized', (t) => {
  const config = parseConfig(
    `{
  // the vote
  "vote": [
    "threshold 3/4",
    { "threshold": { "count": 2, "fraction": "0.5" } },
    { "trust": "cache.nixos.org-1" },
    { "script": "deciders/d.mjs", "timeoutMs": 250 }, /* relative to the file */
  ],
  "upstreams": ["https://cache.nixos.org", "file:///srv/cache"],
  "substituter": { "priority": 20 },
}`,
    FILE,
  );
  t.deepEqual(config.vote, [
    { kind: 'threshold', count: 3, fraction: { numerator: 3, denominator: 4 } },
    { kind: 'threshold', count: 2, fraction: { numerator: 1, denominator: 2 } },
    { kind: 'trust', log: 'cache.nixos.org-1' },
    { kind: 'script', module: '/etc/trustix/deciders/d.mjs', timeoutMs: 250 },
  ]);
  t.deepEqual(config.upstreams, ['https://cache.nixos.org/', 'file:///srv/cache/']);
  t.deepEqual(config.substituter, { priority: 20 });
  t.is(config.file, FILE);
});

test('WebRTC and STUN servers: IPv4, bracketed IPv6 and DNS hosts, with or without a port', (t) => {
  const stun = ['stun:203.0.113.5:3478', 'stun:[2001:db8::1]:3478', 'stun:stun.example.org'];
  t.deepEqual(parseConfig(JSON.stringify({ webrtc: false, stun }), FILE), {
    file: FILE,
    webrtc: false,
    stun,
  });
});

test('stunPort: true (the TCP ports), false (none) or a port number', (t) => {
  for (const stunPort of [true, false, 3478])
    t.is(parseConfig(JSON.stringify({ stunPort }), FILE).stunPort, stunPort);
});

test('network, follow, batch and sync options', (t) => {
  const config = parseConfig(
    `{
  "http": "[::1]:9000",
  "listen": ["/ip4/0.0.0.0/tcp/4001"],
  "announce": ["/dns4/example.org/tcp/4001"],
  "bootstrap": [
    "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo",
    // Through a relay: two peer IDs, not side by side.
    "/ip4/127.0.0.1/tcp/4002/p2p/12D3KooWSRCf6iTsokKYpJJuSJaSNJVR9xPqXhQqSP8eB1S7xWvR/p2p-circuit/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo",
  ],
  "maxConnections": 50,
  "follow": [{ "log": "mercury-1:Kx3Nlff0M+XjD1JjbWrWANVZCjyJ/fyQjF1hWI8gu/g=", "name": "mercury", "weight": 2.5 }],
  "batch": { "intervalMs": 100, "maxSubmissions": 500 },
  "sync": { "maxConcurrentSyncs": 4, "retryDelayMs": 1000, "maxRetryDelayMs": 60000 },
}`,
    FILE,
  );
  t.deepEqual(config.http, { host: '::1', port: 9000 });
  t.deepEqual(config.listen, ['/ip4/0.0.0.0/tcp/4001']);
  t.is(config.bootstrap?.length, 2);
  t.is(config.maxConnections, 50);
  t.like(config.follow?.[0], { name: 'mercury', weight: 2.5 });
  t.regex(config.follow?.[0]?.log ?? '', /^mercury-1\+[0-9a-f]{8}\+/, 'normalized to the vkey');
  t.deepEqual(config.batch, { intervalMs: 100, maxSubmissions: 500 });
  t.deepEqual(config.sync, { maxConcurrentSyncs: 4, retryDelayMs: 1000, maxRetryDelayMs: 60000 });
});

test('an empty file and an empty object are the defaults', (t) => {
  t.deepEqual(parseConfig('', FILE), { file: FILE });
  t.deepEqual(parseConfig('{}\n', FILE), { file: FILE });
});

const BAD: [string, string, RegExp][] = [
  ['syntax error', '{\n  "vote": [\n    "threshold 3/4"\n    "trust x"\n  ]\n}', /:4: not valid JSON/],
  ['not an object', '[1]', /:1: config: expected an object/],
  ['unknown option', '{\n  "vot": []\n}', /:2: vot: unknown option/],
  ['option given twice', '{\n  "vote": ["trust a"],\n  "vote": ["trust b"]\n}', /:3: vote: given twice/],
  ['empty vote', '{ "vote": [] }', /:1: vote: needs at least one decider/],
  [
    'bad shorthand',
    '{\n\n  "vote": ["threshold 5/4"]\n}',
    /:3: vote\[0\]: malformed decider: "5\/4" is more than 1/,
  ],
  ['unknown decider', '{ "vote": [{ "plurality": 1 }] }', /vote\[0\]\.plurality: unknown decider/],
  [
    'threshold without fraction',
    '{ "vote": [{ "threshold": { "count": 2 } }] }',
    /needs both count and fraction/,
  ],
  ['threshold count 0', '{ "vote": [{ "threshold": { "count": 0, "fraction": "1/2" } }] }', /count/],
  ['fraction over 1', '{ "vote": [{ "threshold": { "count": 1, "fraction": "3/2" } }] }', /fraction/],
  [
    'extra key in a decider',
    '{ "vote": [{ "trust": "a", "weight": 2 }] }',
    /vote\[0\]\.weight: unknown option/,
  ],
  [
    'bad upstream scheme',
    '{\n  "upstreams": [\n    "ftp://x"\n  ]\n}',
    /:3: upstreams\[0\]: .*unsupported scheme/,
  ],
  ['upstream not a string', '{ "upstreams": [3] }', /upstreams\[0\]: expected a non-empty string/],
  ['bad priority', '{ "substituter": { "priority": -1 } }', /substituter\.priority/],
  ['unknown substituter option', '{ "substituter": { "port": 1 } }', /substituter\.port: unknown option/],
  ['bad http address', '{\n  "http": "localhost"\n}', /:2: http: malformed HTTP address: expected HOST:PORT/],
  [
    'bootstrap without a peer ID',
    '{ "bootstrap": ["/ip4/1.2.3.4/tcp/1"] }',
    /bootstrap\[0\]: malformed peer multiaddr: no \/p2p/,
  ],
  [
    'bootstrap with its peer ID twice (an address printed with its ID, and the ID appended)',
    '{ "bootstrap": ["/ip4/1.2.3.4/tcp/1/p2p/12D3KooWSRCf6iTsokKYpJJuSJaSNJVR9xPqXhQqSP8eB1S7xWvR/p2p/12D3KooWSRCf6iTsokKYpJJuSJaSNJVR9xPqXhQqSP8eB1S7xWvR"] }',
    /bootstrap\[0\]: malformed peer multiaddr: two \/p2p\/<PeerId> in a row/,
  ],
  ['bad listen address', '{ "listen": ["tcp://x"] }', /listen\[0\]/],
  ['follow without a log', '{ "follow": [{ "name": "x" }] }', /follow\[0\]: needs "log"/],
  ['follow with a bad key', '{ "follow": [{ "log": "nope" }] }', /follow\[0\]\.log: malformed/],
  [
    'follow with weight 0',
    '{ "follow": [{ "log": "a:Kx3Nlff0M+XjD1JjbWrWANVZCjyJ/fyQjF1hWI8gu/g=", "weight": 0 }] }',
    /follow\[0\]\.weight/,
  ],
  [
    'batch interval too long',
    '{ "batch": { "intervalMs": 999999 } }',
    /batch\.intervalMs: expected a whole number/,
  ],
  ['unknown sync option', '{ "sync": { "threads": 2 } }', /sync\.threads: unknown option/],
  ['witness not a boolean', '{ "witness": "yes" }', /witness: expected true or false/],
  ['webrtc not a boolean', '{ "webrtc": 1 }', /webrtc: expected true or false/],
  ['a STUN port of 0', '{ "stunPort": 0 }', /stunPort: expected a whole number from 1 to 65535/],
  ['a STUN port as a string', '{ "stunPort": "3478" }', /stunPort: expected a whole number from 1 to 65535/],
  ['a STUN server that is no stun: URL', '{ "stun": ["10.0.0.1:3478"] }', /stun\[0\]: malformed STUN server/],
  ['a STUN server with port 0', '{ "stun": ["stun:10.0.0.1:0"] }', /stun\[0\]: malformed STUN server/],
  [
    'witnesses without a quorum',
    witnessed('"witnesses": [W1]'),
    /follow\[0\]: "witnesses" needs "witnessQuorum"/,
  ],
  [
    'a quorum without witnesses',
    witnessed('"witnessQuorum": 1'),
    /follow\[0\]: "witnessQuorum" needs "witnesses"/,
  ],
  [
    'a quorum above the witnesses listed',
    witnessed('"witnesses": [W1, W2], "witnessQuorum": 3'),
    /follow\[0\]\.witnessQuorum: 3 exceeds the 2 witness\(es\) listed/,
  ],
  [
    'a quorum of 0',
    witnessed('"witnesses": [W1], "witnessQuorum": 0'),
    /follow\[0\]\.witnessQuorum: expected a whole number/,
  ],
  [
    'no witnesses',
    witnessed('"witnesses": [], "witnessQuorum": 1'),
    /follow\[0\]\.witnesses: expected 1 to 15/,
  ],
  [
    'a witness twice',
    witnessed('"witnesses": [W1, W1], "witnessQuorum": 1'),
    /witnesses\[1\]: this witness is listed twice/,
  ],
  [
    'a log key as a witness',
    witnessed('"witnesses": ["a+bd4343b8+AWnwpL1GVBDfFoEkJLfSILD6Urxr+IvB+OYho1G15qvK"], "witnessQuorum": 1'),
    /witnesses\[0\]: malformed witness key/,
  ],
  [
    'a witness vkey with a wrong key ID',
    witnessed(`"witnesses": [${JSON.stringify(W1.replace('+86f40954+', '+86f40955+'))}], "witnessQuorum": 1`),
    /witnesses\[0\]: malformed witness key: key ID does not match/,
  ],
];

for (const [what, text, message] of BAD)
  test(`refused with file, line and option: ${what}`, (t) => {
    const err = t.throws(() => parseConfig(text, FILE), { instanceOf: ConfigError });
    t.regex(err.message, new RegExp(`^${FILE.replaceAll('/', '\\/')}`));
    t.regex(err.message, message);
  });

test('loadConfig: a missing default file is the empty config; a missing --config file, a huge or non-UTF-8 one is an error', async (t) => {
  const dir = await tempDir('trustix-config-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.deepEqual(await loadConfig(join(dir, 'config.json')), {});
  await t.throwsAsync(loadConfig(join(dir, 'config.json'), true), {
    instanceOf: ConfigError,
    message: /cannot read/,
  });
  await writeFile(join(dir, 'big.json'), ' '.repeat(MAX_CONFIG_BYTES + 1));
  await t.throwsAsync(loadConfig(join(dir, 'big.json')), { instanceOf: ConfigError, message: /larger than/ });
  await writeFile(join(dir, 'bin.json'), Buffer.from([0x7b, 0xff, 0x7d]));
  await t.throwsAsync(loadConfig(join(dir, 'bin.json')), { instanceOf: ConfigError, message: /UTF-8/ });
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub', 'c.json'), '{ "vote": ["script ./d.mjs"] }');
  await writeFile(join(dir, 'sub', 'd.mjs'), 'export function decide() {}\n');
  t.like((await loadConfig(join(dir, 'sub', 'c.json'))).vote?.[0], { module: join(dir, 'sub', 'd.mjs') });
});

test('loadConfig: a script decider file that does not exist is refused with the file, the line and the option', async (t) => {
  const dir = await tempDir('trustix-config-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  await writeFile(file, '{\n  "vote": [\n    "threshold 1/2",\n    { "script": "./gone.mjs" }\n  ]\n}\n');
  const err = await t.throwsAsync(loadConfig(file), { instanceOf: ConfigError });
  t.is(err?.message, `${file}:4: vote[1]: ${join(dir, 'gone.mjs')}: no such file`);
});

test('"spool": a path relative to the file, or absolute; anything else refused with the line', (t) => {
  t.is(parseConfig('{ "spool": "spool-dir" }', FILE).spool, '/etc/trustix/spool-dir');
  t.is(parseConfig('{ "spool": "/var/lib/trustix-spool/" }', FILE).spool, '/var/lib/trustix-spool');
  t.is(parseConfig('{}', FILE).spool, undefined);
  for (const [value, message] of [
    ['""', /expected a non-empty string/],
    ['3', /expected a non-empty string/],
    ['["/a"]', /expected a non-empty string/],
    ['"/var/lib/a\\nb"', /control characters/],
    ['"/var/lib/a\\u0000b"', /control characters/],
  ] as const) {
    const err = t.throws(() => parseConfig(`{\n  "spool": ${value}\n}`, FILE), { instanceOf: ConfigError });
    t.regex(err!.message, /^\/etc\/trustix\/config\.json:2: spool: /, value);
    t.regex(err!.message, message, value);
  }
});

test('loadConfig: a spool other users could write to is refused with the line; a missing one is fine', async (t) => {
  const dir = await tempDir('trustix-config-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  await writeFile(file, '{\n  "vote": ["majority"],\n  "spool": "./spool"\n}\n');
  // Not there yet: `init` and `start` create it, mode 0700.
  t.is((await loadConfig(file)).spool, join(dir, 'spool'));
  await mkdir(join(dir, 'spool'), { mode: 0o700 });
  t.is((await loadConfig(file)).spool, join(dir, 'spool'));
  await chmod(join(dir, 'spool'), 0o770);
  const err = await t.throwsAsync(loadConfig(file), { instanceOf: ConfigError });
  t.regex(
    err!.message,
    new RegExp(`^${file}:3: spool: ${join(dir, 'spool')}: the spool is writable by group`),
  );
  t.true(err!.cause instanceof InsecurePermissionsError);
});
