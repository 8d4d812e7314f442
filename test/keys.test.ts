import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ErrorConstructor } from 'ava';
import test from 'ava';
import { openCheckpoint, signCheckpoint } from '../protocol/checkpoint.ts';
import { MAX_KEY_NAME_BYTES } from '../protocol/constants.ts';
import { signBytes } from '../protocol/ed25519.ts';
import { MalformedError, TooLargeError, type TrustixError } from '../protocol/errors.ts';
import {
  formatNixPublicKey,
  formatNixSecretKey,
  generateNixSecretKey,
  logIdOf,
  logKeyOf,
  logSigner,
  nixSecretKeyFromSeed,
  parseLogKey,
  parseNixPublicKey,
  parseNixSecretKey,
} from '../protocol/keys.ts';
import { readSharedJson, requireShared } from './helpers/shared.ts';

type ErrorClass = ErrorConstructor<TrustixError>;

interface NixVectors {
  keys: Record<string, { secret: string; public: string }>;
  vectors: { name: string; fingerprint: string; sigTrustixTest1: string; sigTrustixTest2: string }[];
}

// Computed independently (Python hashlib/base64) from trustix-test-1's public key.
const TEST1_VKEY = 'trustix-test-1+bd4343b8+AWnwpL1GVBDfFoEkJLfSILD6Urxr+IvB+OYho1G15qvK';
const TEST1_LOG_ID = '6186edc27d4805184d52c5dbe8209341ef6353f02feac58f9cebf739e9a98248';

const keysDir = requireShared('vectors/nix/keys', 'Nix test keys');
if (keysDir !== undefined) {
  test('trustix-test-1: its vkey and log ID, the same by the vkey and the Nix public key routes', (t) => {
    const publicFile = readFileSync(join(keysDir, 'trustix-test-1.public'), 'utf8');
    const byNix = parseLogKey(publicFile);
    t.is(byNix.name, 'trustix-test-1');
    t.is(byNix.vkey, TEST1_VKEY);
    t.is(byNix.logId, TEST1_LOG_ID);
    const byVkey = parseLogKey(TEST1_VKEY);
    t.is(byVkey.logId, TEST1_LOG_ID);
    t.deepEqual(Buffer.from(byVkey.publicKey), Buffer.from(byNix.publicKey));
    t.is(byVkey.verifier.vkey, TEST1_VKEY);
  });
}

const vectorsPath = requireShared('vectors/nix/vectors.json', 'Nix key vectors');
if (vectorsPath !== undefined) {
  const v = readSharedJson<NixVectors>(vectorsPath);
  for (const [name, files] of Object.entries(v.keys)) {
    test(`${name}: secret key parses, derives the stored public key, and both files round-trip`, (t) => {
      const secret = parseNixSecretKey(files.secret);
      t.is(secret.name, name);
      t.is(formatNixSecretKey(secret), files.secret);
      t.is(formatNixPublicKey(secret), files.public);
      const pub = parseNixPublicKey(files.public);
      t.deepEqual(Buffer.from(pub.publicKey), Buffer.from(secret.publicKey));
      t.is(formatNixPublicKey(pub), files.public);
      const log = parseLogKey(files.public);
      t.is(parseLogKey(log.vkey).logId, log.logId);
      t.is(log.logId, logIdOf(log.vkey));
      t.regex(log.logId, /^[0-9a-f]{64}$/);
    });
  }
  for (const vector of v.vectors) {
    test(`${vector.name}: signing the fingerprint with trustix-test-1 gives Nix's own Sig`, (t) => {
      const secret = parseNixSecretKey(v.keys['trustix-test-1']!.secret);
      const sig = signBytes(secret.signingKey, new TextEncoder().encode(vector.fingerprint));
      t.is(`${secret.name}:${Buffer.from(sig).toString('base64')}`, vector.sigTrustixTest1);
    });
  }
}

const seed = new Uint8Array(32).fill(5);
const key = nixSecretKeyFromSeed('cache.example-1', seed);
const SECRET = formatNixSecretKey(key);
const PUBLIC = formatNixPublicKey(key);
const [, SECRET_B64] = SECRET.split(':') as [string, string];

test('key files tolerate exactly one trailing newline, as a string or as bytes', (t) => {
  t.is(parseNixSecretKey(`${SECRET}\n`).name, key.name);
  t.is(parseNixPublicKey(`${PUBLIC}\n`).name, key.name);
  t.is(parseNixSecretKey(Buffer.from(SECRET)).name, key.name);
  t.is(parseNixPublicKey(new TextEncoder().encode(`${PUBLIC}\n`)).name, key.name);
});

test('generateNixSecretKey makes distinct keys that round-trip and sign checkpoints', (t) => {
  const a = generateNixSecretKey('gen.example-1');
  const b = generateNixSecretKey('gen.example-1');
  t.notDeepEqual(Buffer.from(a.seed), Buffer.from(b.seed));
  const again = parseNixSecretKey(formatNixSecretKey(a));
  t.deepEqual(Buffer.from(again.publicKey), Buffer.from(a.publicKey));
  const log = logKeyOf(a);
  const note = signCheckpoint(
    { origin: a.name, size: 3, root: new Uint8Array(32), extensions: [] },
    logSigner(a),
  );
  t.is(openCheckpoint(note, log.verifier).size, 3);
  t.throws(() => openCheckpoint(note, logKeyOf(b).verifier), { instanceOf: Error });
});

function mismatchedSecret(): string {
  const bytes = Buffer.from(SECRET_B64, 'base64');
  bytes[63] = bytes[63]! ^ 1;
  return `${key.name}:${bytes.toString('base64')}`;
}

const badSecrets: [string, string | Uint8Array, ErrorClass][] = [
  ['a secret key whose public half does not match the seed', mismatchedSecret(), MalformedError],
  ['two trailing newlines', `${SECRET}\n\n`, MalformedError],
  ['CRLF ending', `${SECRET}\r\n`, MalformedError],
  ['a leading space', ` ${SECRET}`, MalformedError],
  ['a trailing space', `${SECRET} `, MalformedError],
  ['no colon', SECRET.replace(':', ''), MalformedError],
  ['an empty name', `:${SECRET_B64}`, MalformedError],
  ['a space in the name', `a b:${SECRET_B64}`, MalformedError],
  ['a tab in the name', `a\tb:${SECRET_B64}`, MalformedError],
  ['a plus in the name', `a+b:${SECRET_B64}`, MalformedError],
  ['a public key where the secret belongs', PUBLIC, MalformedError],
  ['the seed alone (32 bytes)', `${key.name}:${Buffer.from(seed).toString('base64')}`, MalformedError],
  ['base64 without padding', SECRET.slice(0, -2), MalformedError],
  ['URL-safe base64', `${key.name}:${SECRET_B64.replaceAll('+', '-').replaceAll('/', '_')}`, MalformedError],
  ['invalid UTF-8 bytes', Buffer.concat([Buffer.from([0xff]), Buffer.from(SECRET)]), MalformedError],
  ['an oversized file', `${'n'.repeat(MAX_KEY_NAME_BYTES + 100)}:${SECRET_B64}`, TooLargeError],
  ['a name over the limit', `${'n'.repeat(MAX_KEY_NAME_BYTES + 1)}:${SECRET_B64}`, MalformedError],
  ['an empty file', '', MalformedError],
];
for (const [title, file, errorClass] of badSecrets) {
  test(`parseNixSecretKey refuses ${title} with ${errorClass.name}`, (t) => {
    t.throws(() => parseNixSecretKey(file), { instanceOf: errorClass });
  });
}

test('a URL-safe secret key differs from the standard one (so its test means something)', (t) => {
  t.regex(SECRET_B64, /[+/]/);
});

const PUBLIC_B64 = PUBLIC.slice(key.name.length + 1);
// 32 bytes = 10 groups of 3 + 2 bytes: the last symbol before '=' carries 2 unused bits.
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const NONCANONICAL_PUBLIC = `${PUBLIC_B64.slice(0, -2)}${alphabet[alphabet.indexOf(PUBLIC_B64.at(-2)!) ^ 1]}=`;
const badPublics: [string, string, ErrorClass][] = [
  ['a secret key where the public belongs', SECRET, MalformedError],
  ['31 bytes', `${key.name}:${Buffer.alloc(31).toString('base64')}`, MalformedError],
  ['33 bytes', `${key.name}:${Buffer.alloc(33).toString('base64')}`, MalformedError],
  ['non-canonical base64', `${key.name}:${NONCANONICAL_PUBLIC}`, MalformedError],
  ['two trailing newlines', `${PUBLIC}\n\n`, MalformedError],
  ['an empty name', `:${PUBLIC_B64}`, MalformedError],
  ['an oversized file', `${'n'.repeat(MAX_KEY_NAME_BYTES + 100)}:${PUBLIC_B64}`, TooLargeError],
];
for (const [title, file, errorClass] of badPublics) {
  test(`parseNixPublicKey refuses ${title} with ${errorClass.name}`, (t) => {
    t.throws(() => parseNixPublicKey(file), { instanceOf: errorClass });
  });
}

test('the non-canonical public key decodes to the same bytes (so its test means something)', (t) => {
  t.deepEqual(Buffer.from(NONCANONICAL_PUBLIC, 'base64'), Buffer.from(key.publicKey));
});

const badLogKeys: [string, string][] = [
  ['a trailing newline', `${PUBLIC}\n`],
  ['an empty string', ''],
  ['a bare name', 'cache.example-1'],
  ['a vkey with uppercase key hash', TEST1_VKEY.replace('bd4343b8', 'BD4343B8')],
  ['a vkey with a wrong key hash', TEST1_VKEY.replace('bd4343b8', 'bd4343b9')],
  ['a vkey with a space', ` ${TEST1_VKEY}`],
  ['a Nix key with a plus in its name', `a+b:${PUBLIC_B64}`],
  ['a Nix secret key', SECRET],
];
for (const [title, text] of badLogKeys) {
  test(`parseLogKey refuses ${title} with MalformedError`, (t) => {
    t.throws(() => parseLogKey(text), { instanceOf: MalformedError });
  });
}

test('nixSecretKeyFromSeed refuses a seed of the wrong length', (t) => {
  t.throws(() => nixSecretKeyFromSeed('x', new Uint8Array(31)), { instanceOf: MalformedError });
  t.throws(() => nixSecretKeyFromSeed('x', new Uint8Array(64)), { instanceOf: MalformedError });
});
