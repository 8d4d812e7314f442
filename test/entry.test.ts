import test from 'ava';
import fc from 'fast-check';
import { MAX_ENTRY_BYTES } from '../protocol/constants.ts';
import { checkEntry, type Entry, entryFromNarinfo, formatEntry, parseEntry } from '../protocol/entry.ts';
import { MalformedError, TooLargeError } from '../protocol/errors.ts';
import { parseNarinfo } from '../protocol/narinfo.ts';
import { encodeNix32, NIX32_ALPHABET } from '../protocol/nix32.ts';
import { fixture, VECTORS } from './helpers/nix-fixtures.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

for (const v of VECTORS.vectors) {
  test(`${v.name}: the fingerprint parses into the vector's values and formats back byte for byte`, (t) => {
    const entry = parseEntry(new TextEncoder().encode(v.fingerprint));
    t.is(entry.storePath, v.storePath);
    t.is(Buffer.from(entry.narHash).toString('hex'), v.narHashHex);
    t.is(entry.narSize, v.narSize);
    t.deepEqual(entry.references, v.references);
    t.is(formatEntry(entry), v.fingerprint);
  });
}

for (const v of VECTORS.vectors) {
  test(`${v.name}: entryFromNarinfo of both caches' narinfos formats to the fingerprint`, (t) => {
    t.is(formatEntry(entryFromNarinfo(parseNarinfo(fixture(v.narinfoXz)))), v.fingerprint);
    t.is(formatEntry(entryFromNarinfo(parseNarinfo(fixture(v.narinfoNone)))), v.fingerprint);
  });
}

const WITHREF = VECTORS.vectors.find((v) => v.name === 'tv-withref')!;
const FP = WITHREF.fingerprint;
const [REF_A, REF_B] = WITHREF.references as [string, string];
const HEAD = FP.slice(0, FP.lastIndexOf(';') + 1); // "1;<path>;<hash>;592;"
const NIX32_HASH = WITHREF.narHash.slice('sha256:'.length);

test('formatEntry sorts references, as Nix does for the fingerprint', (t) => {
  const entry = parseEntry(FP);
  t.is(formatEntry({ ...entry, references: [REF_B, REF_A] }), FP);
});

test('formatEntry refuses values that would not parse back', (t) => {
  const entry = parseEntry(FP);
  const bad: Entry[] = [
    { ...entry, references: [REF_A, REF_A] },
    { ...entry, references: ['/tmp/x'] },
    { ...entry, references: [REF_A.replace('/nix/store', '/gnu/store')] },
    { ...entry, narSize: 1.5 },
    { ...entry, narSize: -1 },
    { ...entry, narSize: 0 },
    { ...entry, narSize: 2 ** 53 },
    { ...entry, storePath: 'relative-x' },
  ];
  for (const e of bad) t.throws(() => formatEntry(e), { instanceOf: MalformedError });
  t.throws(() => formatEntry({ ...entry, narHash: new Uint8Array(31) }), { instanceOf: MalformedError });
});

test('parseEntry honours another store dir', (t) => {
  const gnu = FP.replaceAll('/nix/store', '/gnu/store');
  t.is(parseEntry(gnu, '/gnu/store').storePath, WITHREF.storePath.replace('/nix', '/gnu'));
  t.throws(() => parseEntry(gnu), { instanceOf: MalformedError });
});

/** A valid entry of exactly `total` bytes: HEAD plus references with sorted synthetic hash parts. */
function entryOfBytes(total: number): string {
  const refs: string[] = [];
  let remaining = total - HEAD.length;
  const hashPart = (i: number) =>
    i
      .toString(32)
      .padStart(32, '0')
      .replace(/./g, (d) => NIX32_ALPHABET[parseInt(d, 32)]!);
  const add = (nameLen: number) => {
    refs.push(`/nix/store/${hashPart(refs.length)}-${'x'.repeat(nameLen)}`);
    remaining -= (refs.length > 1 ? 1 : 0) + 44 + nameLen;
  };
  while (remaining > 500) add(211);
  const sep = refs.length > 0 ? 1 : 0;
  if (remaining <= sep + 255) add(remaining - sep - 44);
  else {
    const names = remaining - sep - 1 - 88;
    add(Math.floor(names / 2));
    add(remaining - 1 - 44);
  }
  return HEAD + refs.join(',');
}

test(`an entry of exactly MAX_ENTRY_BYTES (${MAX_ENTRY_BYTES}) parses`, (t) => {
  const text = entryOfBytes(MAX_ENTRY_BYTES);
  t.is(Buffer.byteLength(text), MAX_ENTRY_BYTES);
  t.is(formatEntry(parseEntry(text)), text);
});

test('an entry of 65,536 bytes is refused with TooLargeError', (t) => {
  const text = entryOfBytes(MAX_ENTRY_BYTES + 1);
  t.is(Buffer.byteLength(text), 65_536);
  t.throws(() => parseEntry(text), { instanceOf: TooLargeError });
  t.throws(() => parseEntry(new TextEncoder().encode(text)), { instanceOf: TooLargeError });
  // The cap comes before parsing: garbage of that size is "too large", not "malformed".
  t.throws(() => parseEntry(new Uint8Array(65_536)), { instanceOf: TooLargeError });
  // formatEntry will not write one either.
  const full = parseEntry(entryOfBytes(MAX_ENTRY_BYTES));
  const extra = `/nix/store/${'z'.repeat(32)}-z`;
  t.throws(() => formatEntry({ ...full, references: [...full.references, extra] }), {
    instanceOf: TooLargeError,
  });
});

const REJECTS: [string, string | Uint8Array][] = [
  ['unsorted references', `${HEAD}${REF_B},${REF_A}`],
  ['duplicate references', `${HEAD}${REF_A},${REF_A}`],
  ['a NAR size with a leading zero', FP.replace(';592;', ';0592;')],
  ['NAR size 0', FP.replace(';592;', ';0;')],
  ['a negative NAR size', FP.replace(';592;', ';-592;')],
  ['a NAR size over 2^53-1', FP.replace(';592;', ';9007199254740992;')],
  ['an empty NAR size', FP.replace(';592;', ';;')],
  ['a trailing newline', `${FP}\n`],
  ['a newline inside', FP.replace(';592;', ';592\n;')],
  ['a CR', `${FP}\r`],
  ['bad nix32 (invalid char)', FP.replace(NIX32_HASH, `${NIX32_HASH.slice(0, -1)}u`)],
  ['bad nix32 (non-canonical high bits)', FP.replace(NIX32_HASH, `z${NIX32_HASH.slice(1)}`)],
  ['bad nix32 (51 chars)', FP.replace(NIX32_HASH, NIX32_HASH.slice(1))],
  ['a hex NAR hash (not canonical here)', FP.replace(NIX32_HASH, WITHREF.narHashHex)],
  ['an SRI NAR hash', FP.replace(WITHREF.narHash, WITHREF.narHashSRI)],
  ['a sha512 NAR hash', FP.replace('sha256:', 'sha512:')],
  ['trailing data after the references', `${FP};`],
  ['a trailing comma', `${FP},`],
  ['a leading comma', `${HEAD},${REF_A},${REF_B}`],
  ['an empty reference between commas', `${HEAD}${REF_A},,${REF_B}`],
  ['a space after a comma', `${HEAD}${REF_A}, ${REF_B}`],
  ['a base name as reference', `${HEAD}${REF_A.slice('/nix/store/'.length)}`],
  ['a reference outside the store', `${HEAD}/tmp/x`],
  ['no trailing ";" when there are no references', HEAD.slice(0, -1)],
  ['kind 2', FP.replace(/^1;/, '2;')],
  ['kind 01', FP.replace(/^1;/, '01;')],
  ['a missing kind', FP.slice(2)],
  ['an empty string', ''],
  ['a bad store path', FP.replace(WITHREF.storePath, `${WITHREF.storePath}/bin`)],
  ['a store path hash part in uppercase', FP.replace(WITHREF.hashPart, WITHREF.hashPart.toUpperCase())],
  ['invalid UTF-8', new Uint8Array([...Buffer.from(FP), 0xff])],
  ['a byte-order mark', `\ufeff${FP}`],
];

for (const [what, input] of REJECTS) {
  test(`entry rejects ${what} with MalformedError`, (t) => {
    t.throws(() => parseEntry(input), { instanceOf: MalformedError });
  });
}

test('property: formatEntry and parseEntry round-trip any valid values', (t) => {
  const nix32 = (n: number) =>
    fc.array(fc.constantFrom(...NIX32_ALPHABET), { minLength: n, maxLength: n }).map((a) => a.join(''));
  const nameChar = fc.constantFrom(...'abcXYZ019+-._?=');
  const name = fc
    .tuple(fc.constantFrom(...'aZ9+-_?='), fc.array(nameChar, { maxLength: 20 }))
    .map(([first, rest]) => first + rest.join(''));
  const path = fc.tuple(nix32(32), name).map(([h, n]) => `/nix/store/${h}-${n}`);
  const entry = fc.record({
    storePath: path,
    narHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    narSize: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    references: fc.uniqueArray(path, { maxLength: 8 }),
  });
  fc.assert(
    fc.property(entry, (e) => {
      const text = formatEntry(e);
      const back = parseEntry(text);
      t.is(back.storePath, e.storePath);
      t.deepEqual(back.narHash, e.narHash);
      t.is(back.narSize, e.narSize);
      t.deepEqual(back.references, [...e.references].sort());
      t.is(text.split(';')[2], `sha256:${encodeNix32(e.narHash)}`);
      t.is(formatEntry(back), text);
    }),
  );
});

test('checkEntry accepts the vectors and returns the offset of the hash part', (t) => {
  for (const v of VECTORS.vectors) {
    const bytes = new TextEncoder().encode(v.fingerprint);
    const at = checkEntry(bytes);
    t.is(Buffer.from(bytes.subarray(at, at + 32)).toString(), v.hashPart);
  }
  const gnu = new TextEncoder().encode(FP.replaceAll('/nix/store', '/gnu/store'));
  t.is(checkEntry(gnu, '/gnu/store'), '1;/gnu/store/'.length);
  t.throws(() => checkEntry(gnu), { instanceOf: MalformedError });
  t.is(checkEntry(new TextEncoder().encode(entryOfBytes(MAX_ENTRY_BYTES))), 13);
});

for (const [what, input] of REJECTS) {
  test(`checkEntry rejects ${what} with parseEntry's error`, (t) => {
    const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
    const err = t.throws(() => parseEntry(bytes));
    t.throws(() => checkEntry(bytes), {
      instanceOf: err!.constructor as typeof Error,
      message: err!.message,
    });
  });
}

test('checkEntry refuses oversized entries with TooLargeError', (t) => {
  t.throws(() => checkEntry(new TextEncoder().encode(entryOfBytes(MAX_ENTRY_BYTES + 1))), {
    instanceOf: TooLargeError,
  });
  t.throws(() => checkEntry(new Uint8Array(65_536)), { instanceOf: TooLargeError });
});

/** Whether `f` runs without throwing. */
const passes = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};

test('property: checkEntry and parseEntry agree on mutations of valid entries', (t) => {
  const valid = [...syntheticEntries(200, 3), FP, HEAD, entryOfBytes(300)];
  // Bytes that matter to the grammar, plus a few that never occur in an entry.
  const interesting = [...';,/-.:0123456789az19AZ+_?=eotu \n\r', '\u00e9', '\ufeff'];
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('set' as const), at: fc.nat(), text: fc.constantFrom(...interesting) }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(...interesting) }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 60 }) }),
    fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 60 }) }),
  );
  fc.assert(
    fc.property(fc.constantFrom(...valid), fc.array(mutation, { maxLength: 3 }), (entry, mutations) => {
      let text = entry;
      for (const m of mutations) {
        const at = m.at % (text.length + 1);
        if (m.op === 'set') text = text.slice(0, at) + m.text + text.slice(at + 1);
        else if (m.op === 'insert') text = text.slice(0, at) + m.text + text.slice(at);
        else if (m.op === 'delete') text = text.slice(0, at) + text.slice(at + m.length);
        else text = text.slice(0, at + m.length) + text.slice(at, at + m.length) + text.slice(at + m.length);
      }
      const bytes = new TextEncoder().encode(text);
      t.is(
        passes(() => checkEntry(bytes)),
        passes(() => parseEntry(bytes)),
        JSON.stringify(text),
      );
    }),
    { numRuns: 20_000 },
  );
});

test('checkEntry and parseEntry agree at the boundaries of every field', (t) => {
  const [kind, path, hash, size, refs] = FP.split(';') as [string, string, string, string, string];
  const hashPart = WITHREF.hashPart;
  const low = `/nix/store/${'0'.repeat(32)}-x`;
  const cases: string[] = [];
  const entry = (p: string, h: string, s: string, r: string) => [kind, p, h, s, r].join(';');
  for (const length of [1, 210, 211, 212, 300]) {
    const long = `/nix/store/${hashPart}-${'a'.repeat(length)}`;
    cases.push(entry(long, hash, size, refs), entry(path, hash, size, long));
    cases.push(entry(path, hash, size, `${low},${long}`), entry(path, hash, size, `${long},${low}`));
  }
  for (const s of ['9007199254740991', '9007199254740992', '9999999999999999', '99999999999999999'])
    cases.push(entry(path, hash, s, refs));
  for (const s of ['1', '0', '01', '10', '1a', 'a1', '+1', '1e3']) cases.push(entry(path, hash, s, refs));
  for (const c of '0123456789abz') cases.push(entry(path, `sha256:${c}${hash.slice(8)}`, size, refs));
  for (const name of ['.a', 'a.', '-a', '?', '=x', 'a/b', 'a b', 'a;b', 'a,b', 'a\u00e9'])
    cases.push(entry(`/nix/store/${hashPart}-${name}`, hash, size, ''));
  for (const [a, b] of [
    [REF_A, REF_A],
    [REF_B, REF_A],
    [REF_A, `${REF_A}x`],
    [`${REF_A}x`, REF_A],
    [`${REF_A}-`, `${REF_A}.`],
    [`${REF_A}.`, `${REF_A}-`],
  ])
    cases.push(entry(path, hash, size, `${a},${b}`));
  let valid = 0;
  for (const text of cases) {
    const bytes = new TextEncoder().encode(text);
    const ok = passes(() => parseEntry(bytes));
    if (ok) valid++;
    t.is(
      passes(() => checkEntry(bytes)),
      ok,
      text,
    );
  }
  t.true(valid > 10 && valid < cases.length - 10);
});
