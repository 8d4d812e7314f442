/**
 * Witness cosignatures (protocol/cosignature.ts) against C2SP tlog-cosignature: the spec's own example line,
 * and a second implementation written here from the spec's text alone (@noble/ed25519 and @noble/hashes,
 * no code shared with the module), checked both ways.
 */
import * as ed from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import test from 'ava';
import { signCheckpoint } from '../protocol/checkpoint.ts';
import {
  addCosignature,
  cosignedMessage,
  parseWitnessVkey,
  verifyCosignatures,
  witnessKey,
  witnessSigner,
} from '../protocol/cosignature.ts';
import { MalformedError, VerificationError } from '../protocol/errors.ts';
import { openNote } from '../protocol/note.ts';
import { noteSigner, noteVerifier } from '../protocol/vkey.ts';

ed.hashes.sha512 = sha512;

// ---- The second implementation, from the spec text (https://c2sp.org/tlog-cosignature, "Format" and
// "Ed25519 signed message").
const enc = new TextEncoder();
function specKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  // SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 cosigner public key)[:4]
  return sha256(new Uint8Array([...enc.encode(name), 0x0a, 0x04, ...publicKey])).slice(0, 4);
}
function specMessage(body: string, timestamp: bigint): Uint8Array {
  // Two newline-terminated lines, the header and "time <decimal>", then the whole note body.
  return enc.encode(`cosignature/v1\ntime ${timestamp.toString(10)}\n${body}`);
}
function specLine(name: string, seed: Uint8Array, body: string, timestamp: bigint): string {
  // — <key name> base64(32-bit key ID || u64 timestamp big-endian || signature)
  const ts = new Uint8Array(8);
  new DataView(ts.buffer).setBigUint64(0, timestamp);
  const sig = ed.sign(specMessage(body, timestamp), seed);
  const field = new Uint8Array([...specKeyId(name, ed.getPublicKey(seed)), ...ts, ...sig]);
  return `— ${name} ${Buffer.from(field).toString('base64')}\n`;
}
function specVerify(line: string, name: string, publicKey: Uint8Array, body: string): bigint | undefined {
  const m = /^— (\S+) (\S+)\n$/.exec(line);
  if (m === null || m[1] !== name) return undefined;
  const field = new Uint8Array(Buffer.from(m[2]!, 'base64'));
  if (field.length !== 4 + 8 + 64 || !Buffer.from(field.slice(0, 4)).equals(specKeyId(name, publicKey)))
    return undefined;
  const timestamp = new DataView(field.buffer).getBigUint64(4);
  return ed.verify(field.slice(12), specMessage(body, timestamp), publicKey) ? timestamp : undefined;
}

// ---- Fixtures: a log checkpoint and two witnesses.
const LOG = noteSigner('example.com/behind-the-sofa', new Uint8Array(32).fill(1));
const LOG_KEY = noteVerifier(LOG.name, LOG.publicKey);
const BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const NOTE = signCheckpoint(
  {
    origin: 'example.com/behind-the-sofa',
    size: 20852163,
    root: new Uint8Array(Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64')),
    extensions: [],
  },
  LOG,
);
const SEED_1 = new Uint8Array(32).fill(7);
const SEED_2 = new Uint8Array(32).fill(9);
const W1 = witnessSigner('witness.example.com/w1', SEED_1);
const W2 = witnessSigner('witness.example.com/w2', SEED_2);
const K1 = witnessKey(W1.name, W1.publicKey);
const K2 = witnessKey(W2.name, W2.publicKey);
const NOW = 1_800_000_000;

test('the spec’s example cosignature line: key ID, then the timestamp of its example message, then 64 bytes', (t) => {
  // From the spec's example checkpoint: the line of witness.example.com/w1.
  const field = Buffer.from(
    'jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==',
    'base64',
  );
  t.is(field.length, 4 + 8 + 64);
  // The spec's example signed message reads "time 1679315147".
  t.is(field.readBigUInt64BE(4), 1679315147n);
  t.deepEqual(
    Buffer.from(cosignedMessage(enc.encode(BODY), 1679315147)).toString('utf8'),
    `cosignature/v1\ntime 1679315147\n${BODY}`,
    'the message is the spec’s example message, byte for byte',
  );
});

test('a cosignature made here verifies with the spec implementation, and is the same line', (t) => {
  const opened = openNote(NOTE, LOG_KEY);
  const cosigned = addCosignature(NOTE, opened, W1, 1679315147);
  const line = Buffer.from(cosigned).toString('utf8').split('\n').filter(Boolean).at(-1)!;
  t.is(specVerify(`${line}\n`, W1.name, W1.publicKey, BODY), 1679315147n);
  t.is(`${line}\n`, specLine(W1.name, SEED_1, BODY, 1679315147n), 'Ed25519 is deterministic: same bytes');
});

test('cosignatures made by the spec implementation verify here, one per witness, the newest kept', (t) => {
  const note = Buffer.concat([
    NOTE,
    enc.encode(specLine(W1.name, SEED_1, BODY, 1000n)),
    enc.encode(specLine(W2.name, SEED_2, BODY, 2000n)),
    enc.encode(specLine(W1.name, SEED_1, BODY, 3000n)),
  ]);
  const opened = openNote(note, LOG_KEY);
  const found = verifyCosignatures(opened, [K1, K2], { now: NOW });
  t.deepEqual(
    found.map((c) => [c.witness.name, c.timestamp]),
    [
      [W1.name, 3000],
      [W2.name, 2000],
    ],
  );
  t.deepEqual(
    verifyCosignatures(opened, [K2], { now: NOW }).map((c) => c.witness.name),
    [W2.name],
  );
  t.deepEqual(verifyCosignatures(opened, [], { now: NOW }), []);
});

test('a tampered cosignature by a known witness is refused; an unknown witness is ignored', (t) => {
  const good = specLine(W1.name, SEED_1, BODY, 1000n);
  const field = Buffer.from(good.slice(good.lastIndexOf(' ') + 1, -1), 'base64');
  // The timestamp changed after signing.
  const later = Buffer.from(field);
  later.writeBigUInt64BE(1001n, 4);
  for (const bad of [later, Buffer.concat([field.subarray(0, 12), Buffer.alloc(64)])]) {
    const note = Buffer.concat([NOTE, enc.encode(`— ${W1.name} ${bad.toString('base64')}\n`)]);
    t.throws(() => verifyCosignatures(openNote(note, LOG_KEY), [K1], { now: NOW }), {
      instanceOf: VerificationError,
    });
  }
  // A cosignature over another checkpoint body.
  const other = Buffer.concat([
    NOTE,
    enc.encode(specLine(W1.name, SEED_1, BODY.replace('20852163', '20852164'), 5n)),
  ]);
  t.throws(() => verifyCosignatures(openNote(other, LOG_KEY), [K1], { now: NOW }), {
    instanceOf: VerificationError,
  });
  // Too short after the key ID: a plain note signature by the witness's name and key ID is not a cosignature.
  const short = Buffer.concat([field.subarray(0, 4), field.subarray(12)]);
  const plain = Buffer.concat([NOTE, enc.encode(`— ${W1.name} ${short.toString('base64')}\n`)]);
  t.throws(() => verifyCosignatures(openNote(plain, LOG_KEY), [K1], { now: NOW }), {
    instanceOf: VerificationError,
  });
  // Another witness's line is not looked at.
  const unknown = Buffer.concat([NOTE, enc.encode(`— someone.else ${later.toString('base64')}\n`)]);
  t.deepEqual(verifyCosignatures(openNote(unknown, LOG_KEY), [K1], { now: NOW }), []);
});

test('a cosignature from the future is refused; within the allowed skew it counts', (t) => {
  const far = Buffer.concat([NOTE, enc.encode(specLine(W1.name, SEED_1, BODY, BigInt(NOW + 3600)))]);
  t.throws(() => verifyCosignatures(openNote(far, LOG_KEY), [K1], { now: NOW }), {
    instanceOf: VerificationError,
    message: /future/,
  });
  const near = Buffer.concat([NOTE, enc.encode(specLine(W1.name, SEED_1, BODY, BigInt(NOW + 60)))]);
  t.is(verifyCosignatures(openNote(near, LOG_KEY), [K1], { now: NOW }).length, 1);
});

test('adding a cosignature replaces the witness’s older one and keeps the others', (t) => {
  let note: Uint8Array = NOTE;
  note = addCosignature(note, openNote(note, LOG_KEY), W1, 10);
  note = addCosignature(note, openNote(note, LOG_KEY), W2, 20);
  note = addCosignature(note, openNote(note, LOG_KEY), W1, 30);
  const opened = openNote(note, LOG_KEY);
  t.is(opened.unverified.length, 2, 'one line per witness');
  t.deepEqual(
    verifyCosignatures(opened, [K1, K2], { now: NOW })
      .map((c) => c.timestamp)
      .sort(),
    [20, 30],
  );
});

test('witness vkeys: type 0x04 with a matching key ID; a log key (type 0x01) is not a witness key', (t) => {
  t.is(parseWitnessVkey(K1.vkey).vkey, K1.vkey);
  t.deepEqual(parseWitnessVkey(K1.vkey).publicKey, W1.publicKey);
  t.is(K1.vkey.split('+')[1], Buffer.from(specKeyId(W1.name, W1.publicKey)).toString('hex'));
  t.throws(() => parseWitnessVkey(LOG_KEY.vkey), { instanceOf: MalformedError, message: /type 0x04/ });
  const [name, , material] = K1.vkey.split('+');
  t.throws(() => parseWitnessVkey(`${name}+00000000+${material}`), { instanceOf: MalformedError });
  t.throws(() => parseWitnessVkey(`${name}+${K2.vkey.split('+')[1]}`), { instanceOf: MalformedError });
  t.throws(() => parseWitnessVkey(`x+${'a'.repeat(400)}`), { instanceOf: MalformedError });
  t.throws(() => witnessSigner('bad name', SEED_1), { instanceOf: MalformedError });
});
