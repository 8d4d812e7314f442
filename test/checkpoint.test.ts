import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ErrorConstructor } from 'ava';
import test from 'ava';
import fc from 'fast-check';
import {
  type Checkpoint,
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
} from '../protocol/checkpoint.ts';
import { MAX_KEY_NAME_BYTES, MAX_NOTE_BYTES, MAX_TREE_SIZE } from '../protocol/constants.ts';
import {
  MalformedError,
  OutOfRangeError,
  TooLargeError,
  TrustixError,
  VerificationError,
} from '../protocol/errors.ts';
import { formatNixPublicKey, logSigner, parseLogKey, parseNixSecretKey } from '../protocol/keys.ts';
import { signNote } from '../protocol/note.ts';
import { formatVkey, noteSigner, parseVkey } from '../protocol/vkey.ts';
import { requireShared } from './helpers/shared.ts';

type ErrorClass = ErrorConstructor<TrustixError>;

const EMPTY_ROOT = createHash('sha256').digest();
const ROOT_B64 = EMPTY_ROOT.toString('base64'); // 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
const log = noteSigner('log.example/one', new Uint8Array(32).fill(3));
const logV = parseVkey(formatVkey(log.name, log.publicKey));
const other = noteSigner('log.example/two', new Uint8Array(32).fill(4));
const otherV = parseVkey(formatVkey(other.name, other.publicKey));
const body = (size: string, root = ROOT_B64, origin = log.name) => `${origin}\n${size}\n${root}\n`;

test('formatCheckpoint writes ORIGIN, SIZE, base64 root and extension lines', (t) => {
  const cp: Checkpoint = { origin: log.name, size: 42, root: EMPTY_ROOT, extensions: ['— ext one', 'two'] };
  t.is(formatCheckpoint(cp), `${log.name}\n42\n${ROOT_B64}\n— ext one\ntwo\n`);
});

test('parseCheckpoint reads size 0 and 2^53-1 and keeps extension lines opaque', (t) => {
  t.is(parseCheckpoint(body('0')).size, 0);
  t.is(parseCheckpoint(body(String(MAX_TREE_SIZE))).size, MAX_TREE_SIZE);
  const cp = parseCheckpoint(`${body('7')}ext a b\n  indented\n`);
  t.deepEqual(cp.extensions, ['ext a b', '  indented']);
  t.deepEqual(Buffer.from(cp.root), EMPTY_ROOT);
});

test('an origin with spaces (as Go sumdb uses) parses', (t) => {
  t.is(parseCheckpoint(body('1', ROOT_B64, 'go.sum database tree')).origin, 'go.sum database tree');
});

const ROOT31 = Buffer.alloc(31, 1).toString('base64');
const ROOT33 = Buffer.alloc(33, 1).toString('base64');
// The root with non-zero unused bits in its last symbol: same 32 bytes, non-canonical spelling.
const NONCANONICAL = `${ROOT_B64.slice(0, -2)}V=`;
const badBodies: [string, string, ErrorClass][] = [
  ['empty text', '', MalformedError],
  ['missing final newline', body('1').slice(0, -1), MalformedError],
  ['CRLF line endings', body('1').replaceAll('\n', '\r\n'), MalformedError],
  ['leading-zero size', body('01'), MalformedError],
  ['size 00', body('00'), MalformedError],
  ['size with a plus sign', body('+1'), MalformedError],
  ['negative size', body('-1'), MalformedError],
  ['size with a space', body(' 1'), MalformedError],
  ['hex size', body('0x10'), MalformedError],
  ['size in exponent form', body('1e3'), MalformedError],
  ['size 2^53 (over 2^53-1)', body('9007199254740992'), MalformedError],
  ['size 2^64', body('18446744073709551616'), MalformedError],
  ['size with 400 digits', body(`1${'0'.repeat(400)}`), MalformedError],
  ['root of 31 bytes', body('1', ROOT31), MalformedError],
  ['root of 33 bytes', body('1', ROOT33), MalformedError],
  ['root without padding', body('1', ROOT_B64.slice(0, -1)), MalformedError],
  ['non-canonical base64 root', body('1', NONCANONICAL), MalformedError],
  ['URL-safe base64 root', body('1', ROOT_B64.replace('+', '-').replace('/', '_')), MalformedError],
  ['root in hex', body('1', EMPTY_ROOT.toString('hex')), MalformedError],
  ['empty origin', body('1', ROOT_B64, ''), MalformedError],
  ['origin too long', body('1', ROOT_B64, 'o'.repeat(MAX_KEY_NAME_BYTES + 1)), MalformedError],
  ['tab in origin', body('1', ROOT_B64, 'a\tb'), MalformedError],
  ['missing root line', `${log.name}\n1\n`, MalformedError],
  ['blank line after the root', `${body('1')}\n`, MalformedError],
  ['blank line between extensions', `${body('1')}a\n\nb\n`, MalformedError],
  ['blank line before the size', `${log.name}\n\n1\n${ROOT_B64}\n`, MalformedError],
  ['trailing space after the size', body('1 '), MalformedError],
  ['control character in an extension', `${body('1')}a\u0001b\n`, MalformedError],
  [`text over ${MAX_NOTE_BYTES} bytes`, `${body('1')}${'x'.repeat(MAX_NOTE_BYTES)}\n`, TooLargeError],
];
for (const [title, text, errorClass] of badBodies) {
  test(`parseCheckpoint refuses ${title} with ${errorClass.name}`, (t) => {
    t.throws(() => parseCheckpoint(text), { instanceOf: errorClass });
  });
}

test('the non-canonical root spelling decodes to the same bytes (so the test above means something)', (t) => {
  t.deepEqual(Buffer.from(NONCANONICAL, 'base64'), EMPTY_ROOT);
  t.not(NONCANONICAL, ROOT_B64);
});

test('formatCheckpoint refuses values parseCheckpoint would refuse', (t) => {
  const ok: Checkpoint = { origin: log.name, size: 1, root: EMPTY_ROOT, extensions: [] };
  t.throws(() => formatCheckpoint({ ...ok, size: MAX_TREE_SIZE + 1 }), { instanceOf: OutOfRangeError });
  t.throws(() => formatCheckpoint({ ...ok, size: -1 }), { instanceOf: OutOfRangeError });
  t.throws(() => formatCheckpoint({ ...ok, size: 1.5 }), { instanceOf: OutOfRangeError });
  t.throws(() => formatCheckpoint({ ...ok, root: EMPTY_ROOT.subarray(1) }), { instanceOf: MalformedError });
  t.throws(() => formatCheckpoint({ ...ok, origin: '' }), { instanceOf: MalformedError });
  t.throws(() => formatCheckpoint({ ...ok, origin: 'a\nb' }), { instanceOf: MalformedError });
  t.throws(() => formatCheckpoint({ ...ok, extensions: [''] }), { instanceOf: MalformedError });
  t.throws(() => formatCheckpoint({ ...ok, extensions: ['a\nb'] }), { instanceOf: MalformedError });
});

test('signCheckpoint then openCheckpoint returns the checkpoint and the exact note bytes', (t) => {
  const cp: Checkpoint = { origin: log.name, size: 123, root: EMPTY_ROOT, extensions: ['x'] };
  const note = signCheckpoint(cp, log);
  const signed = openCheckpoint(note, logV);
  t.is(signed.origin, cp.origin);
  t.is(signed.size, 123);
  t.deepEqual(Buffer.from(signed.root), EMPTY_ROOT);
  t.deepEqual(signed.extensions, ['x']);
  t.deepEqual(Buffer.from(signed.note), Buffer.from(note));
  t.is(signed.signature.name, log.name);
  t.is(signed.text, formatCheckpoint(cp));
});

test('openCheckpoint keeps a copy of the note: later changes to the input do not reach it', (t) => {
  const note = signCheckpoint({ origin: log.name, size: 1, root: EMPTY_ROOT, extensions: [] }, log);
  const signed = openCheckpoint(note, logV);
  note[0] = 0x21;
  t.is(Buffer.from(signed.note).toString('utf8').slice(0, log.name.length), log.name);
});

test('openCheckpoint refuses a checkpoint signed by another key (VerificationError)', (t) => {
  const note = signCheckpoint({ origin: other.name, size: 1, root: EMPTY_ROOT, extensions: [] }, other);
  t.throws(() => openCheckpoint(note, logV), { instanceOf: VerificationError });
  t.notThrows(() => openCheckpoint(note, otherV));
});

test("openCheckpoint refuses a log's valid signature over another origin (VerificationError)", (t) => {
  const note = signNote(body('1', ROOT_B64, 'someone.else'), [log]);
  t.throws(() => openCheckpoint(note, logV), { instanceOf: VerificationError });
});

test('openCheckpoint refuses a signed but malformed body (MalformedError)', (t) => {
  const note = signNote(body('01'), [log]);
  t.throws(() => openCheckpoint(note, logV), { instanceOf: MalformedError });
});

test('signCheckpoint refuses an origin other than the log key name', (t) => {
  t.throws(() => signCheckpoint({ origin: 'x', size: 1, root: EMPTY_ROOT, extensions: [] }, log), {
    instanceOf: MalformedError,
  });
});

test('openCheckpoint keeps cosignatures by unknown keys as other signatures', (t) => {
  const note = signNote(formatCheckpoint({ origin: log.name, size: 5, root: EMPTY_ROOT, extensions: [] }), [
    log,
    other,
  ]);
  const signed = openCheckpoint(note, logV);
  t.deepEqual(
    signed.otherSignatures.map((s) => s.name),
    [other.name],
  );
});

test('openCheckpoint refuses oversized notes before parsing (TooLargeError)', (t) => {
  t.throws(() => openCheckpoint(new Uint8Array(MAX_NOTE_BYTES + 1).fill(0x41), logV), {
    instanceOf: TooLargeError,
  });
});

test('property: format/parse round-trips every size and root', (t) => {
  fc.assert(
    fc.property(
      fc.nat({ max: MAX_TREE_SIZE }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      (size, root) => {
        const text = formatCheckpoint({ origin: log.name, size, root, extensions: [] });
        const cp = parseCheckpoint(text);
        return cp.size === size && Buffer.from(cp.root).equals(root) && formatCheckpoint(cp) === text;
      },
    ),
  );
  t.pass();
});

test('property: every single-byte change to a signed checkpoint is refused with a typed error', (t) => {
  const note = signCheckpoint({ origin: log.name, size: 99, root: EMPTY_ROOT, extensions: [] }, log);
  fc.assert(
    fc.property(fc.nat(note.length - 1), fc.integer({ min: 1, max: 255 }), (index, delta) => {
      const mutated = Uint8Array.from(note);
      mutated[index] = (mutated[index]! + delta) & 0xff;
      try {
        openCheckpoint(mutated, logV);
        return false;
      } catch (error) {
        return error instanceof TrustixError;
      }
    }),
  );
  t.pass();
});

const keyPath = requireShared('vectors/nix/keys/trustix-test-1.secret', 'trustix-test-1 checkpoint example');
if (keyPath !== undefined) {
  test('the empty log of trustix-test-1 signs to the checkpoint documented in checkpoint.ts', (t) => {
    const secret = parseNixSecretKey(readFileSync(keyPath));
    const note = signCheckpoint(
      { origin: secret.name, size: 0, root: EMPTY_ROOT, extensions: [] },
      logSigner(secret),
    );
    t.is(
      Buffer.from(note).toString('utf8'),
      'trustix-test-1\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n' +
        '— trustix-test-1 vUNDuPrfdN9lLbKGv8zMKC0v/MBj2IPYLhwLNYZFlaXMfSgTGgtXpL/ZEV4fz2mmE++s/VNkJ62tQWU+cWOLehWlXAY=\n',
    );
    t.is(openCheckpoint(note, parseLogKey(formatNixPublicKey(secret)).verifier).size, 0);
  });
}
