import type { ErrorConstructor } from 'ava';
import test from 'ava';
import fc from 'fast-check';
import { parseCheckpoint } from '../protocol/checkpoint.ts';
import { MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES } from '../protocol/constants.ts';
import { MalformedError, TooLargeError, TrustixError, VerificationError } from '../protocol/errors.ts';
import { openNote, signNote } from '../protocol/note.ts';
import { formatVkey, noteSigner, parseSignerKey, parseVkey } from '../protocol/vkey.ts';
import { readSharedJson, requireShared } from './helpers/shared.ts';

type ErrorClass = ErrorConstructor<TrustixError>;

interface NoteVectors {
  signed_notes: {
    source: string;
    vkey: string;
    skey?: string;
    text?: string;
    note: string;
    expect: string;
  }[];
  malformed_notes_from_golang_mod_TestOpen: { cases: string[] };
  bad_vkeys_from_golang_mod_TestNewVerifier: { vkey: string; why: string }[];
  real_world_vkeys: { vkey: string; source: string; note: string }[];
  tlog: { go_tree_note: { text: string } };
  real_world_notes: { vkey: string; note: string; mutations_that_must_fail: string[] }[];
}

const enc = (s: string) => new TextEncoder().encode(s);
const concat = (...parts: (string | Uint8Array)[]) =>
  new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === 'string' ? enc(p) : p))));

const vectorsPath = requireShared('tlog-vectors/signed-note/note-vectors.json', 'signed-note vectors');
if (vectorsPath !== undefined) {
  const v = readSharedJson<NoteVectors>(vectorsPath);
  const [c2sp, peter, twoSigs] = v.signed_notes;
  const peterVerifier = parseVkey(peter!.vkey);

  test('signed_notes[0] (C2SP spec example): verifies with its vkey', (t) => {
    const opened = openNote(enc(c2sp!.note), parseVkey(c2sp!.vkey));
    t.is(opened.text, 'This is an example message.\n');
    t.is(opened.verified.length, 1);
    t.is(opened.verified[0]!.name, 'example.com/foo');
    t.is(opened.verified[0]!.keyHash, 0x530d903a);
    t.deepEqual(opened.unverified, []);
  });

  test('signed_notes[1] (PeterNeumann): verifies, and signing with the skey reproduces the exact note', (t) => {
    const opened = openNote(enc(peter!.note), peterVerifier);
    t.is(opened.text, peter!.text!);
    t.is(opened.verified.length, 1);
    const signer = parseSignerKey(peter!.skey!);
    t.is(formatVkey(signer.name, signer.publicKey), peter!.vkey);
    t.is(Buffer.from(signNote(peter!.text!, [signer])).toString('utf8'), peter!.note);
  });

  test('signed_notes[2] (two signatures): valid for either vkey, the other signature kept unverified', (t) => {
    const note = enc(twoSigs!.note);
    const enoch = parseVkey(twoSigs!.vkey);
    const byEnoch = openNote(note, enoch);
    t.deepEqual(
      byEnoch.verified.map((s) => s.name),
      ['EnochRoot'],
    );
    t.deepEqual(
      byEnoch.unverified.map((s) => s.name),
      ['PeterNeumann'],
    );
    const byPeter = openNote(note, [peterVerifier]);
    t.deepEqual(
      byPeter.verified.map((s) => s.name),
      ['PeterNeumann'],
    );
    t.deepEqual(
      byPeter.unverified.map((s) => s.name),
      ['EnochRoot'],
    );
    t.is(openNote(note, [enoch, peterVerifier]).verified.length, 2);
  });

  // Each case of golang/mod TestOpen, built from the PeterNeumann note.
  const text = peter!.text!;
  const sigLine = peter!.note.slice(text.length + 1);
  const malformed: Record<string, () => Uint8Array> = {
    '<text> (no blank line/signature)': () => enc(text),
    '<text>\\n (blank line, no signature)': () => enc(`${text}\n`),
    '<text>\\n<sig line without final newline>': () => enc(`${text}\n${sigLine.slice(0, -1)}`),
    '\\x01<text>\\n<sig> (control char)': () => enc(`\x01${text}\n${sigLine}`),
    '\\xff<text>\\n<sig> (invalid UTF-8)': () => concat(Uint8Array.of(0xff), `${text}\n${sigLine}`),
    '<text>\\n— Bad Name <sig> (space in key name)': () =>
      enc(`${text}\n${sigLine.replace('— PeterNeumann ', '— Bad Name ')}`),
    '<text>\\n<sig>Unexpected line.\\n (non-signature line after signatures)': () =>
      enc(`${text}\n${sigLine}Unexpected line.\n`),
  };
  for (const description of v.malformed_notes_from_golang_mod_TestOpen.cases) {
    test(`malformed note ${description}: MalformedError`, (t) => {
      const build = malformed[description];
      if (build === undefined) return t.fail(`no construction for vector case ${description}`);
      t.throws(() => openNote(build(), peterVerifier), { instanceOf: MalformedError });
    });
  }

  for (const bad of v.bad_vkeys_from_golang_mod_TestNewVerifier) {
    test(`bad vkey (${bad.why}): MalformedError`, (t) => {
      t.throws(() => parseVkey(bad.vkey), { instanceOf: MalformedError });
    });
  }

  for (const real of v.real_world_vkeys) {
    test(`real-world vkey ${real.vkey}: splits on the first two '+' and round-trips`, (t) => {
      const verifier = parseVkey(real.vkey);
      const [name, hash] = real.vkey.split('+');
      t.is(verifier.name, name!);
      t.is(verifier.keyHash, Number.parseInt(hash!, 16));
      t.is(verifier.publicKey.length, 32);
      t.is(verifier.vkey, real.vkey);
      t.is(formatVkey(verifier.name, verifier.publicKey), real.vkey);
    });
  }

  test('tlog.go_tree_note: parses as a checkpoint body', (t) => {
    const cp = parseCheckpoint(v.tlog.go_tree_note.text);
    t.is(cp.origin, 'go.sum database tree');
    t.is(cp.size, 123456789012);
    t.is(Buffer.from(cp.root).toString('base64'), 'TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=');
    t.deepEqual(cp.extensions, []);
  });

  // Mutations of the real sum.golang.org note, and the error class each must give.
  const realMutations: Record<string, [(note: string) => string, ErrorClass]> = {
    'size 65209736 -> 65209737': [(n) => n.replace('\n65209736\n', '\n65209737\n'), VerificationError],
    "root '5+uG' -> '6+uG'": [(n) => n.replace('\n5+uG', '\n6+uG'), VerificationError],
    "signature 'Az3g' -> 'Bz3g'": [(n) => n.replace(' Az3g', ' Bz3g'), VerificationError],
    "key name 'sum.golang.org' -> 'other.invalid' (no known key: reject, no verified signature)": [
      (n) => n.replace('— sum.golang.org ', '— other.invalid '),
      VerificationError,
    ],
    'tab after key name': [(n) => n.replace('— sum.golang.org ', '— sum.golang.org\t'), MalformedError],
    'drop final newline': [(n) => n.slice(0, -1), MalformedError],
  };
  for (const real of v.real_world_notes) {
    const verifier = parseVkey(real.vkey);
    test(`real-world note by ${verifier.name}: verifies and its text parses as a checkpoint`, (t) => {
      const opened = openNote(enc(real.note), verifier);
      t.is(opened.verified.length, 1);
      const cp = parseCheckpoint(opened.text);
      t.is(cp.origin, 'go.sum database tree');
      t.is(cp.size, 65209736);
    });
    for (const description of real.mutations_that_must_fail) {
      test(`real-world note mutation "${description}": refused`, (t) => {
        const entry = realMutations[description];
        if (entry === undefined) return t.fail(`no construction for mutation ${description}`);
        const [mutate, errorClass] = entry;
        const mutated = mutate(real.note);
        t.not(mutated, real.note, 'the mutation changed the note');
        t.throws(() => openNote(enc(mutated), verifier), { instanceOf: errorClass });
      });
    }
  }
}

// Self-made notes for the cases the vectors do not cover.
const alice = noteSigner('alice.example/log', new Uint8Array(32).fill(7));
const bob = noteSigner('bob.example/log', new Uint8Array(32).fill(9));
const aliceV = parseVkey(formatVkey(alice.name, alice.publicKey));
const bobV = parseVkey(formatVkey(bob.name, bob.publicKey));
const TEXT = 'hello\nworld\n';
const NOTE = Buffer.from(signNote(TEXT, [alice])).toString('utf8');

test('signNote then openNote round-trips the text and both signatures', (t) => {
  const note = signNote(TEXT, [alice, bob]);
  const opened = openNote(note, [aliceV, bobV]);
  t.is(opened.text, TEXT);
  t.deepEqual(Buffer.from(opened.textBytes), Buffer.from(TEXT));
  t.deepEqual(
    opened.verified.map((s) => s.name),
    [alice.name, bob.name],
  );
});

test('a text with blank lines inside is split at the last blank line', (t) => {
  const text = 'a\n\nb\n\n';
  t.is(openNote(signNote(text, [alice]), aliceV).text, text);
});

test('a leading byte order mark is kept in the text, not stripped', (t) => {
  const text = '\uFEFFbom\n';
  t.is(openNote(signNote(text, [alice]), aliceV).text, text);
});

const badNotes: [string, () => Uint8Array, ErrorClass][] = [
  ['CRLF line endings', () => enc(NOTE.replaceAll('\n', '\r\n')), MalformedError],
  ['CR inside the text', () => enc(NOTE.replace('hello', 'hel\rlo')), MalformedError],
  ['tab inside the text', () => enc(NOTE.replace('hello', 'hel\tlo')), MalformedError],
  ['missing final newline', () => enc(NOTE.slice(0, -1)), MalformedError],
  ['en dash instead of em dash', () => enc(NOTE.replace('— ', '– ')), MalformedError],
  ['hyphen instead of em dash', () => enc(NOTE.replace('— ', '- ')), MalformedError],
  ['two hyphens instead of em dash', () => enc(NOTE.replace('— ', '-- ')), MalformedError],
  ['horizontal bar instead of em dash', () => enc(NOTE.replace('— ', '\u2015 ')), MalformedError],
  ['em dash without a space', () => enc(NOTE.replace('— ', '—')), MalformedError],
  [
    'two spaces after the key name',
    () => enc(NOTE.replace(`${alice.name} `, `${alice.name}  `)),
    MalformedError,
  ],
  ['space before the signature line', () => enc(NOTE.replace('\n— ', '\n —')), MalformedError],
  ['extra blank line after the signatures', () => enc(`${NOTE}\n`), MalformedError],
  ['no signature base64', () => enc(`${TEXT}\n— ${alice.name} \n`), MalformedError],
  ['signature without padding', () => enc(NOTE.replace('=\n', '\n')), MalformedError],
  ['URL-safe base64 signature', () => enc(`${TEXT}\n— ${alice.name} ${'_'.repeat(92)}\n`), MalformedError],
  ['signature of 4 bytes (key hash only)', () => enc(`${TEXT}\n— ${alice.name} AAAAAA==\n`), MalformedError],
  ['key name with a plus', () => enc(NOTE.replace(alice.name, 'a+b')), MalformedError],
  ['non-breaking space in key name', () => enc(NOTE.replace(alice.name, 'a\u00a0b')), MalformedError],
  ['empty note', () => new Uint8Array(0), MalformedError],
  [
    'overlong UTF-8 in the text',
    () => concat('a', Uint8Array.of(0xc0, 0xaf), `\n\n${NOTE.slice(TEXT.length + 1)}`),
    MalformedError,
  ],
  [
    `note of ${MAX_NOTE_BYTES + 1} bytes`,
    () => enc(`${'x'.repeat(MAX_NOTE_BYTES + 1 - NOTE.length)}${NOTE}`),
    TooLargeError,
  ],
];
for (const [title, build, errorClass] of badNotes) {
  test(`openNote refuses ${title} with ${errorClass.name}`, (t) => {
    t.throws(() => openNote(build(), aliceV), { instanceOf: errorClass });
  });
}

test('openNote refuses a non-canonical base64 signature (non-zero trailing bits)', (t) => {
  const b64 = NOTE.slice(NOTE.lastIndexOf(' ') + 1, -1);
  // 68 bytes = 22 groups of 3 + 2 bytes: 3 symbols and '=', the last symbol carrying 2 unused bits.
  const last = b64.at(-2)!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const tweaked = `${b64.slice(0, -2)}${alphabet[alphabet.indexOf(last) ^ 1]}=`;
  t.deepEqual(Buffer.from(tweaked, 'base64'), Buffer.from(b64, 'base64'), 'same bytes, other spelling');
  t.throws(() => openNote(enc(NOTE.replace(b64, tweaked)), aliceV), { instanceOf: MalformedError });
});

test(`openNote accepts ${MAX_NOTE_SIGNATURES} signature lines and refuses ${MAX_NOTE_SIGNATURES + 1}`, (t) => {
  const line = NOTE.slice(TEXT.length + 1);
  const unknown = `— someone.else ${Buffer.alloc(68, 1).toString('base64')}\n`;
  const ok = `${TEXT}\n${line}${unknown.repeat(MAX_NOTE_SIGNATURES - 1)}`;
  t.is(openNote(enc(ok), aliceV).unverified.length, 1, 'identical unknown lines are kept once');
  t.throws(() => openNote(enc(`${ok}${unknown}`), aliceV), { instanceOf: MalformedError });
});

test('a bad signature by a known key rejects the note even when another known key verifies', (t) => {
  const good = Buffer.from(signNote(TEXT, [alice, bob])).toString('utf8');
  const lines = good.split('\n');
  // Corrupt bob's signature bytes but keep his key hash (the first 6 base64 symbols).
  const bobLine = lines.findIndex((l) => l.startsWith(`— ${bob.name} `));
  const sig = Buffer.from(lines[bobLine]!.split(' ')[2]!, 'base64');
  sig[10] = sig[10]! ^ 1;
  lines[bobLine] = `— ${bob.name} ${sig.toString('base64')}`;
  t.throws(() => openNote(enc(lines.join('\n')), [aliceV, bobV]), { instanceOf: VerificationError });
  t.is(openNote(enc(lines.join('\n')), aliceV).verified.length, 1, 'unknown to this verifier: ignored');
});

test('a known key whose signature has the wrong length is a VerificationError', (t) => {
  const hash = Buffer.alloc(4);
  hash.writeUInt32BE(alice.keyHash);
  const note = `${TEXT}\n— ${alice.name} ${Buffer.concat([hash, Buffer.alloc(10)]).toString('base64')}\n`;
  t.throws(() => openNote(enc(note), aliceV), { instanceOf: VerificationError });
});

test('a note signed only by unknown keys is a VerificationError', (t) => {
  t.throws(() => openNote(signNote(TEXT, [bob]), aliceV), { instanceOf: VerificationError });
  t.throws(() => openNote(signNote(TEXT, [bob]), []), { instanceOf: VerificationError });
});

test('same name, other key hash: ignored as unknown, not checked', (t) => {
  const impostor = noteSigner(alice.name, new Uint8Array(32).fill(8));
  const opened = openNote(signNote(TEXT, [impostor, alice]), aliceV);
  t.is(opened.verified.length, 1);
  t.is(opened.unverified.length, 1);
});

test('a repeated valid signature by a known key is listed once', (t) => {
  const line = NOTE.slice(TEXT.length + 1);
  t.is(openNote(enc(`${NOTE}${line}`), aliceV).verified.length, 1);
});

test('signNote refuses bad texts and signer lists with MalformedError', (t) => {
  for (const bad of ['', 'no newline', 'tab\there\n', 'cr\r\n', 'lone \uD800 surrogate\n']) {
    t.throws(() => signNote(bad, [alice]), { instanceOf: MalformedError }, JSON.stringify(bad));
  }
  t.throws(() => signNote(TEXT, []), { instanceOf: MalformedError });
  t.throws(() => signNote(TEXT, Array(MAX_NOTE_SIGNATURES + 1).fill(alice)), { instanceOf: MalformedError });
  t.throws(() => signNote(`${'x'.repeat(MAX_NOTE_BYTES)}\n`, [alice]), { instanceOf: TooLargeError });
});

test('openNote verifies the exact received bytes (a note is never re-serialized)', (t) => {
  // Unicode text whose NFC/NFD forms differ: re-encoding would change the signed bytes.
  const text = 'cafe\u0301\n';
  const note = signNote(text, [alice]);
  t.is(openNote(note, aliceV).text, text);
  const nfc = enc(Buffer.from(note).toString('utf8').normalize('NFC'));
  t.throws(() => openNote(nfc, aliceV), { instanceOf: VerificationError });
});

test('property: any text round-trips through signNote and openNote', (t) => {
  const line = fc
    .string({ unit: 'grapheme', maxLength: 40 })
    .filter((s) => [...s].every((c) => c.charCodeAt(0) >= 0x20));
  fc.assert(
    fc.property(fc.array(line, { minLength: 1, maxLength: 5 }), (lines) => {
      const text = `${lines.join('\n')}\n`;
      return openNote(signNote(text, [alice]), aliceV).text === text;
    }),
  );
  t.pass();
});

test('property: every single-byte change to a note is refused with a typed error', (t) => {
  // One signer: with two, renaming one signer's key would leave the other's valid signature.
  const note = signNote(TEXT, [alice]);
  fc.assert(
    fc.property(fc.nat(note.length - 1), fc.integer({ min: 1, max: 255 }), (index, delta) => {
      const mutated = Uint8Array.from(note);
      mutated[index] = (mutated[index]! + delta) & 0xff;
      try {
        openNote(mutated, [aliceV, bobV]);
        return false;
      } catch (error) {
        return error instanceof TrustixError;
      }
    }),
  );
  t.pass();
});
