/**
 * Witness cosignatures end to end (issue 16, item 5), with real nodes on 127.0.0.1: a builder, witnesses
 * that follow its log fully and cosign what they verified, and a user that requires 2 of 3 witnesses.
 * The cosigned notes are checked byte for byte against a second implementation written here from the
 * C2SP texts (signed-note, tlog-cosignature) with @noble/ed25519, sharing no code with the node.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { randomBytes } from 'node:crypto';
import { readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ed from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import test, { type ExecutionContext } from 'ava';
import { TrustixNode, type TrustixNodeInit } from '../node/assembly/trustix-node.ts';
import { submit } from '../node/socket/submit-client.js';
import { initDataDir, initWitnessKey, loadKeys } from '../node/store/data-dir.ts';
import { openCheckpoint, signCheckpoint } from '../protocol/checkpoint.ts';
import { MAX_NOTE_BYTES } from '../protocol/constants.ts';
import { cosignLine, witnessKey, witnessSigner } from '../protocol/cosignature.ts';
import { formatCheckpointMessage } from '../protocol/gossip-message.ts';
import { logSigner, parseNixSecretKey } from '../protocol/keys.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { FAST } from './helpers/node-fixture.ts';
import { dialAddress, LOOPBACK_INIT, waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

ed.hashes.sha512 = sha512;
const enc = new TextEncoder();

// ---- The second implementation, from the spec texts: https://c2sp.org/signed-note (a note is the text,
// a blank line, then lines "— <name> base64(key ID || signature)\n") and https://c2sp.org/tlog-cosignature
// (key ID = SHA-256(name || "\n" || 0x04 || public key)[:4]; the signed message is "cosignature/v1\n",
// "time <decimal>\n", then the note text; the field is key ID || u64 big-endian timestamp || signature).
function specCosignatureLine(name: string, seed: Uint8Array, text: string, timestamp: bigint): string {
  const id = sha256(new Uint8Array([...enc.encode(name), 0x0a, 0x04, ...ed.getPublicKey(seed)])).slice(0, 4);
  const ts = new Uint8Array(8);
  new DataView(ts.buffer).setBigUint64(0, timestamp);
  const sig = ed.sign(enc.encode(`cosignature/v1\ntime ${timestamp}\n${text}`), seed);
  return `— ${name} ${Buffer.from([...id, ...ts, ...sig]).toString('base64')}\n`;
}

/** A note split by the spec: its text (final newline included) and its signature lines. */
function specSplit(note: Uint8Array): { text: string; lines: string[] } {
  const s = Buffer.from(note).toString('utf8');
  const at = s.lastIndexOf('\n\n');
  return { text: s.slice(0, at + 1), lines: s.slice(at + 2).match(/[^\n]*\n/g) ?? [] };
}

/** The timestamp a cosignature line carries (bytes 4..12 of its field). */
function timestampOf(line: string): bigint {
  const field = Buffer.from(line.slice(line.lastIndexOf(' ') + 1, -1), 'base64');
  return field.readBigUInt64BE(4);
}

// ---- Nodes.

interface Prepared {
  readonly dataDir: string;
  readonly witnessVkey: string;
  /** The witness key's name and seed, as its secret file holds them. */
  readonly witness: { name: string; seed: Uint8Array };
}

async function prepare(t: ExecutionContext, name: string): Promise<Prepared> {
  const dataDir = await tempDir(`trustix-${name}-`);
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const keys = await initDataDir(dataDir, { name });
  const secret = parseNixSecretKey(await readFile(join(dataDir, 'witness.secret')));
  return { dataDir, witnessVkey: keys.witness!.key.vkey, witness: { name: secret.name, seed: secret.seed } };
}

async function start(
  t: ExecutionContext,
  dataDir: string,
  bootstrap: string[] | undefined,
  init: Partial<TrustixNodeInit> = {},
): Promise<TrustixNode> {
  const node = new TrustixNode({
    dataDir,
    ...FAST,
    ...init,
    p2p: { ...LOOPBACK_INIT, ...(bootstrap ? { bootstrap } : {}) },
  });
  await node.start();
  t.teardown(() => node.stop());
  return node;
}

async function publishEntries(dataDir: string, entries: readonly string[]) {
  await submit(
    join(dataDir, 'trustix.sock'),
    entries.map((entry) => ({ kind: 'entry' as const, entry })),
  );
}

/** The kept note's cosignature lines (every line after the log's own). */
function cosignatureLines(note: Uint8Array): string[] {
  return specSplit(note).lines.slice(1);
}

test.serial(
  'witnesses cosign what they verified; a user needing 2 of 3 moves only with 2 valid cosignatures, refuses forged, invalid, duplicate and oversized ones, and a split view',
  async (t) => {
    const bootDir = await tempDir('trustix-boot-');
    t.teardown(() => rm(bootDir, { recursive: true, force: true }));
    const boot = await start(t, bootDir, undefined, { role: 'bootstrap' });
    const bootstrap = [dialAddress(boot.libp2p!)];

    const b = await prepare(t, 'mercury');
    const [w1, w2, user] = await Promise.all(['w1', 'w2', 'user'].map((n) => prepare(t, n)));
    // The third witness is a key the test holds: it plays the colluding witness below.
    const w3 = witnessSigner('w3', randomBytes(32));
    const w3Vkey = witnessKey('w3', w3.publicKey).vkey;

    const builder = await start(t, b.dataDir, bootstrap);
    const logId = builder.keys.log.logId;
    const logVkey = builder.keys.log.vkey;
    const witness1 = await start(t, w1!.dataDir, bootstrap, { witness: true });
    const u = await start(t, user!.dataDir, bootstrap, {
      witnessQuorums: { [logId]: { witnesses: [w1!.witnessVkey, w2!.witnessVkey, w3Vkey], quorum: 2 } },
    });
    await witness1.followed.follow(logVkey);
    await u.followed.follow(logVkey);

    const N = 300;
    await publishEntries(b.dataDir, [...syntheticEntries(N, 7)]);
    await waitFor('the builder at N', () => builder.ownLog.size === N);
    // Witness 1 syncs, verifies and cosigns; the user sees the checkpoint with 1 of the 2 cosignatures.
    await waitFor(
      'the user holding checkpoint N with one cosignature',
      async () => (await u.monitor.quorumStatus(logId))?.waitingCosigners === 1,
      { timeout: 90_000, interval: 50 },
    );
    const waiting = await u.monitor.quorumStatus(logId);
    t.like(waiting, { quorum: 2, witnesses: 3, waitingSize: N, waitingCosigners: 1 });
    t.is(waiting?.newestSize, undefined);
    // Without the gate the follower would already aim at N (it is told of checkpoints as they arrive).
    t.is(u.follower!.status(logId)?.targetSize, 0, 'the user did not move on one cosignature');
    t.is(await u.monitor.newest(logId), undefined);

    // A second witness comes: 2 of 3, the user moves and syncs.
    const witness2 = await start(t, w2!.dataDir, bootstrap, { witness: true });
    await witness2.followed.follow(logVkey);
    await waitFor('the user synced to N', () => u.follower!.status(logId)?.verifiedSize === N, {
      timeout: 90_000,
      interval: 50,
    });
    const newest = (await u.monitor.newest(logId))!;
    t.like(await u.monitor.quorumStatus(logId), { newestSize: N, waitingSize: undefined });

    // ---- Byte format: the kept note is the checkpoint, the log's line, then each witness's line exactly
    // as the spec's implementation makes it for that timestamp.
    const honest = builder.ownLog.checkpoint()!;
    const { text, lines } = specSplit(newest);
    t.is(text, honest.text);
    t.is(lines[0], specSplit(honest.note).lines[0]);
    t.is(lines.length, 3);
    for (const w of [w1!, w2!]) {
      const line = lines.find((l) => l.startsWith(`— ${w.witness.name} `));
      t.truthy(line, `a line by ${w.witness.name}`);
      t.is(line, specCosignatureLine(w.witness.name, w.witness.seed, text, timestampOf(line!)));
      const age = Date.now() / 1000 - Number(timestampOf(line!));
      t.true(age >= 0 && age < 600, 'dated when it was cosigned');
    }
    t.is(Buffer.from(newest).toString('utf8'), `${text}\n${lines.join('')}`);

    // ---- Refused: the user's gossip validator, as gossipsub calls it for a message from a peer.
    const peer = witness1.libp2p!.peerId.toString();
    const send = (note: Uint8Array | Buffer) =>
      u.monitor.validate(Buffer.concat([enc.encode(`${logVkey}\n`), note]), peer);
    const withLines = (...extra: string[]) => Buffer.concat([newest, enc.encode(extra.join(''))]);
    const textBytes = enc.encode(text);
    const now = Math.floor(Date.now() / 1000);
    const w3Line = cosignLine(textBytes, w3, now);

    // Forged: w3's name and key ID, a random signature.
    const forgedField = Buffer.from(w3Line.slice(w3Line.lastIndexOf(' ') + 1, -1), 'base64');
    randomBytes(64).copy(forgedField, 12);
    const forged = `— w3 ${forgedField.toString('base64')}\n`;
    t.like(await send(withLines(forged)), { decision: 'ignore', outcome: 'bad-cosignature' });
    // Invalid: a real cosignature by w3 of another checkpoint, or dated an hour ahead.
    const other = cosignLine(enc.encode(`${honest.origin}\n1\n${'A'.repeat(43)}=\n`), w3, now);
    t.like(await send(withLines(other)), { decision: 'ignore', outcome: 'bad-cosignature' });
    t.like(await send(withLines(cosignLine(textBytes, w3, now + 3600))), {
      decision: 'ignore',
      outcome: 'bad-cosignature',
    });
    // Oversized: more signature lines than a note may carry, more bytes than a note may have.
    const stranger = witnessSigner('stranger', randomBytes(32));
    const many = Array.from({ length: 14 }, (_, i) =>
      cosignLine(textBytes, witnessSigner(`s${i}`, randomBytes(32)), now),
    );
    t.like(await send(withLines(...many)), { decision: 'reject', outcome: 'malformed' });
    const long = `— ${'x'.repeat(200)} ${Buffer.alloc(MAX_NOTE_BYTES).toString('base64')}\n`;
    t.like(await send(withLines(long)), { decision: 'reject', outcome: 'malformed' });
    // An unknown witness's line: not kept, passed on (within the gossip budget).
    t.like(await send(withLines(cosignLine(textBytes, stranger, now))), {
      decision: 'accept',
      outcome: 'relayed',
    });
    // Duplicates: w3's valid line twice is kept once; the witnesses' own lines again bring nothing new.
    t.like(await send(withLines(w3Line, w3Line)), {
      decision: 'accept',
      outcome: 'cosigned',
      cosignatures: 1,
    });
    t.like(await send(withLines(w3Line)), { decision: 'ignore', outcome: 'duplicate' });
    const kept = (await u.monitor.newest(logId))!;
    t.deepEqual(cosignatureLines(kept), [...lines.slice(1), w3Line], 'only verified lines, once each');

    // ---- A split view: the builder's key signs a second history, larger, shown to one witness and to
    // the user only. The witness cannot verify it (no source holds that tree) and never cosigns it; the
    // user, with one colluding witness (w3) cosigning it, stays where it was.
    const logSecret = logSigner((await loadKeys(b.dataDir)).logSecret);
    const splitNote = signCheckpoint(
      { origin: honest.origin, size: N + 5, root: randomBytes(32), extensions: [] },
      logSecret,
    );
    const split = formatCheckpointMessage(logVkey, splitNote);
    const failed = Promise.withResolvers<void>();
    const onFail = (e: CustomEvent<{ logId: string }>) => e.detail.logId === logId && failed.resolve();
    witness1.follower!.addEventListener('sync-failed', onFail);
    witness1.follower!.addEventListener('fork', onFail);
    t.like(await witness1.monitor.validate(split, u.libp2p!.peerId.toString()), { outcome: 'new' });
    await failed.promise;
    t.true((witness1.follower!.status(logId)?.verifiedSize ?? 0) < N + 5, 'the witness never verified it');
    t.deepEqual(cosignatureLines((await witness1.monitor.latest(logId))!), [], 'nor cosigned it');

    const splitOpened = openCheckpoint(splitNote, builder.keys.log.verifier);
    const colluded = Buffer.concat([
      splitNote,
      enc.encode(cosignLine(enc.encode(splitOpened.text), w3, now)),
    ]);
    const verdict = await u.monitor.validate(Buffer.concat([enc.encode(`${logVkey}\n`), colluded]), peer);
    t.like(verdict, { decision: 'accept', outcome: 'new', cosignatures: 1 });
    t.like(await u.monitor.quorumStatus(logId), { newestSize: N, waitingSize: N + 5, waitingCosigners: 1 });
    t.is(u.follower!.status(logId)?.targetSize, N, 'the user did not move to the split view');
    t.deepEqual(await u.monitor.newest(logId), kept);
  },
);

test('init makes a witness key beside the log key (0600); an older data directory gets one from init; witnessing without one is refused, naming the fix', async (t) => {
  const dir = await tempDir('trustix-witness-key-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const made = await initDataDir(dir, { name: 'saturn' });
  t.regex(made.witness!.key.vkey, /^saturn-witness\+[0-9a-f]{8}\+/);
  t.is((await stat(join(dir, 'witness.secret'))).mode & 0o777, 0o600);
  t.is((await readFile(join(dir, 'witness.public'), 'utf8')).trim(), made.witness!.key.vkey);
  t.is((await loadKeys(dir)).witness?.key.vkey, made.witness!.key.vkey);

  // A data directory from before witness keys.
  await unlink(join(dir, 'witness.secret'));
  await unlink(join(dir, 'witness.public'));
  t.is((await loadKeys(dir)).witness, undefined);
  const node = new TrustixNode({ dataDir: dir, ...FAST, p2p: false, witness: true });
  const err = await t.throwsAsync(node.start());
  t.regex(err!.message, /witness\.secret: missing: witnessing needs a witness key; run 'trustix init/);
  await node.stop();
  const again = await initDataDir(dir);
  t.false(again.created);
  t.regex(again.witness!.key.vkey, /^saturn-witness\+/);
  t.is((await initWitnessKey(dir)).key.vkey, again.witness!.key.vkey, 'never replaced');
});

test('the CLI: init prints the witness vkey, start takes --witness (config show says so) and a config file witness quorum', async (t) => {
  const dir = await tempDir('trustix-witness-cli-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const init = await runCli(['init', '--data-dir', dir, '--name', 'venus', '--json']);
  t.is(init.code, 0, init.stderr);
  const vkey = JSON.parse(init.stdout).witnessVkey as string;
  t.regex(vkey, /^venus-witness\+[0-9a-f]{8}\+B/);
  t.is((await readFile(join(dir, 'witness.public'), 'utf8')).trim(), vkey);
  const text = await runCli(['init', '--data-dir', dir]);
  t.true(text.stdout.includes(`witness vkey:    ${vkey}`), text.stdout);

  const shown = await runCli(['config', 'show', '--data-dir', dir, '--witness', '--json']);
  t.is(shown.code, 0, shown.stderr);
  t.is(JSON.parse(shown.stdout).witness, true);
  const log = 'a:Kx3Nlff0M+XjD1JjbWrWANVZCjyJ/fyQjF1hWI8gu/g=';
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({ witness: true, follow: [{ log, witnesses: [vkey], witnessQuorum: 1 }] }),
    { mode: 0o600 },
  );
  const fromFile = JSON.parse((await runCli(['config', 'show', '--data-dir', dir, '--json'])).stdout);
  t.is(fromFile.witness, true);
  t.like(fromFile.follow[0], { witnesses: [vkey], witnessQuorum: 1 });
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({ follow: [{ log, witnesses: [vkey], witnessQuorum: 2 }] }),
    { mode: 0o600 },
  );
  const bad = await runCli(['config', 'show', '--data-dir', dir]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /follow\[0\]\.witnessQuorum: 2 exceeds the 1 witness\(es\) listed/);
});
