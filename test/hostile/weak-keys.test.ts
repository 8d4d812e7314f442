// Hostile builder, issue item 14: keys anyone can sign for, and evidence that proves nothing.
// - A small-order Ed25519 public key (e.g. the identity point) makes one forged signature verify for any
//   message: with it, a "log" whose checkpoints anyone can sign would be followable. Such keys, and
//   non-canonical encodings of any key, are refused by vkeys, Nix public keys and `follow`.
// - Two size-0 checkpoints with non-empty roots are not a fork: evidence built from them is refused.
import { createPublicKey, verify } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as ed from '@noble/ed25519';
import test from 'ava';
import { openDatabase } from '../../node/store/database.ts';
import { FollowedLogs } from '../../node/store/followed-logs.ts';
import { encodeBase64 } from '../../protocol/base64.ts';
import { formatCheckpoint, signCheckpoint } from '../../protocol/checkpoint.ts';
import { signBytes, signingKeyFromSeed, verifyBytes, verifyingKey } from '../../protocol/ed25519.ts';
import { MalformedError, VerificationError } from '../../protocol/errors.ts';
import { buildEvidence } from '../../protocol/evidence.ts';
import { generateNixSecretKey, logSigner, parseLogKey, parseNixPublicKey } from '../../protocol/keys.ts';
import { EMPTY_ROOT } from '../../protocol/merkle.ts';
import { openNote } from '../../protocol/note.ts';
import { formatVkey, keyHash } from '../../protocol/vkey.ts';
import { tempDir } from '../helpers/log-fixture.ts';

const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const IDENTITY = hex('0100000000000000000000000000000000000000000000000000000000000000');
const SMALL_ORDER = [
  IDENTITY,
  hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
  hex('0000000000000000000000000000000000000000000000000000000000000000'),
  hex('0000000000000000000000000000000000000000000000000000000000000080'),
  hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'),
  hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa'),
  hex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'),
  hex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85'),
];
/** y = p + k (k = 0..18), with either sign bit: encodings no canonical key has. */
const NOT_REDUCED = Array.from({ length: 38 }, (_, i) => {
  const key = hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
  key[0] = 0xed + (i % 19);
  if (i >= 19) key[31] = 0xff;
  return key;
});

/** A vkey for raw public key bytes, spelled as the format wants (formatVkey itself checks nothing else). */
const vkeyOf = (name: string, publicKey: Uint8Array) =>
  `${name}+${keyHash(name, publicKey).toString(16).padStart(8, '0')}+${encodeBase64(Uint8Array.of(1, ...publicKey))}`;

test('the oracle: every refused "small-order" key is of small order for @noble/ed25519', (t) => {
  for (const key of SMALL_ORDER) t.true(ed.Point.fromBytes(key, true).isSmallOrder());
  for (const key of NOT_REDUCED) t.throws(() => ed.Point.fromBytes(key, false));
});

test('a forged signature verifies under the identity key for any message: node:crypto alone would accept it', (t) => {
  // R = identity, S = 0: [S]B = R + [k]A holds for A = identity, whatever the message.
  const forged = Uint8Array.of(...IDENTITY, ...new Uint8Array(32));
  const object = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), IDENTITY]),
    format: 'der',
    type: 'spki',
  });
  t.true(verify(null, Buffer.from('anything at all'), object, forged));
  // Here, the key is refused before anything is verified with it.
  t.throws(() => verifyingKey(IDENTITY), { instanceOf: MalformedError, message: /small order/ });
});

test('small-order and non-canonical public keys are refused as vkeys, Nix public keys and by follow', async (t) => {
  const dir = await tempDir('trustix-weak-keys-');
  const db = await openDatabase(join(dir, 'db'));
  t.teardown(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  const followed = await FollowedLogs.open(db);
  for (const key of [...SMALL_ORDER, ...NOT_REDUCED]) {
    const what = Buffer.from(key).toString('hex');
    t.throws(() => verifyingKey(key), { instanceOf: MalformedError }, what);
    t.throws(() => parseLogKey(vkeyOf('weak', key)), { instanceOf: MalformedError }, what);
    t.throws(() => parseNixPublicKey(`weak:${encodeBase64(key)}`), { instanceOf: MalformedError }, what);
    t.throws(() => parseLogKey(`weak:${encodeBase64(key)}`), { instanceOf: MalformedError }, what);
    await t.throwsAsync(async () => followed.follow(vkeyOf('weak', key), { name: 'weak' }), undefined, what);
  }
  t.deepEqual(followed.list(), []);
  // A forged checkpoint under the identity key cannot even be opened: its vkey does not parse.
  const text = formatCheckpoint({ origin: 'weak', size: 5, root: new Uint8Array(32), extensions: [] });
  const sig = Uint8Array.of(0, 0, 0, 0, ...IDENTITY, ...new Uint8Array(32));
  const kh = keyHash('weak', IDENTITY);
  sig.set([kh >>> 24, (kh >>> 16) & 255, (kh >>> 8) & 255, kh & 255]);
  const note = Buffer.from(`${text}\n— weak ${encodeBase64(sig)}\n`);
  t.throws(() => openNote(note, parseLogKey(vkeyOf('weak', IDENTITY)).verifier));
});

test('ordinary keys still work, and a signature with a non-canonical S (S + L) does not verify', (t) => {
  const secret = generateNixSecretKey('honest-1');
  const key = parseLogKey(`${secret.name}:${encodeBase64(secret.publicKey)}`);
  t.is(key.vkey, formatVkey(secret.name, secret.publicKey));
  const signing = signingKeyFromSeed(secret.seed);
  const message = Buffer.from('checkpoint');
  const sig = signBytes(signing, message);
  t.true(verifyBytes(verifyingKey(signing.publicKey), message, sig));
  // S + L, little-endian: the same point equation, another spelling of the signature.
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
  let high = s + L;
  const malleable = Uint8Array.from(sig);
  for (let i = 32; i < 64; i++) {
    malleable[i] = Number(high & 255n);
    high >>= 8n;
  }
  t.false(verifyBytes(verifyingKey(signing.publicKey), message, malleable));
});

test('evidence from two size-0 checkpoints with non-empty roots is refused', (t) => {
  const secret = generateNixSecretKey('liar-1');
  const signer = logSigner(secret);
  const vkey = formatVkey(secret.name, secret.publicKey);
  const zero = (root: Uint8Array) =>
    signCheckpoint({ origin: secret.name, size: 0, root, extensions: [] }, signer);
  const one = zero(new Uint8Array(32).fill(1));
  const two = zero(new Uint8Array(32).fill(2));
  t.throws(() => buildEvidence(vkey, one, two, []), {
    instanceOf: VerificationError,
    message: /size 0 must have the empty root/,
  });
  t.throws(() => buildEvidence(vkey, zero(EMPTY_ROOT), two, []), { instanceOf: VerificationError });
});
