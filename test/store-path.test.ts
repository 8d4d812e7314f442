import test from 'ava';
import { MalformedError } from '../protocol/errors.ts';
import {
  checkStoreDir,
  MAX_STORE_PATH_NAME_CHARS,
  parseHashPart,
  parseNarinfoFileName,
  parseStoreBaseName,
  parseStorePath,
} from '../protocol/store-path.ts';
import { VECTORS } from './helpers/nix-fixtures.ts';

const HASH = 'xlyi2n3g389xnbz7z77bkdzk3vbfw53d';

for (const v of VECTORS.vectors) {
  test(`${v.name}: store path parses into hash part and name`, (t) => {
    const sp = parseStorePath(v.storePath);
    t.is(sp.storeDir, '/nix/store');
    t.is(sp.hashPart, v.hashPart);
    t.is(sp.name, v.name);
    t.is(sp.baseName, `${v.hashPart}-${v.name}`);
    t.is(sp.path, v.storePath);
    t.is(parseNarinfoFileName(`${v.hashPart}.narinfo`), v.hashPart);
  });
}

test('deriver paths (.drv) and every allowed name char parse', (t) => {
  for (const v of VECTORS.vectors) t.is(parseStorePath(v.deriver).path, v.deriver);
  t.is(parseStorePath(`/nix/store/${HASH}-aZ09+-._?=`).name, 'aZ09+-._?=');
  t.is(parseStorePath(`/nix/store/${HASH}-${'x'.repeat(MAX_STORE_PATH_NAME_CHARS)}`).name.length, 211);
});

test('another store dir is a parameter, and must match exactly', (t) => {
  t.is(parseStorePath(`/gnu/store/${HASH}-hello`, '/gnu/store').storeDir, '/gnu/store');
  t.throws(() => parseStorePath(`/nix/store/${HASH}-hello`, '/gnu/store'), { instanceOf: MalformedError });
  t.is(parseStoreBaseName(`${HASH}-hello`, '/gnu/store').path, `/gnu/store/${HASH}-hello`);
});

const PATH_REJECTS: [string, string][] = [
  ['empty string', ''],
  ['store dir only', '/nix/store/'],
  ['wrong store dir', `/nix/stor/${HASH}-x`],
  ['relative path', `nix/store/${HASH}-x`],
  ['no name', `/nix/store/${HASH}`],
  ['empty name', `/nix/store/${HASH}-`],
  ['name starting with "."', `/nix/store/${HASH}-.hidden`],
  ['name ".."', `/nix/store/${HASH}-..`],
  ['name with "/"', `/nix/store/${HASH}-a/b`],
  ['subpath inside a store path', `/nix/store/${HASH}-x/bin/hello`],
  ['name with a space', `/nix/store/${HASH}-a b`],
  ['name with ";"', `/nix/store/${HASH}-a;b`],
  ['name with ","', `/nix/store/${HASH}-a,b`],
  ['name with a newline', `/nix/store/${HASH}-a\n`],
  ['name with NUL', `/nix/store/${HASH}-a\0`],
  ['name with non-ASCII', `/nix/store/${HASH}-caf\u00e9`],
  ['name of 212 chars', `/nix/store/${HASH}-${'x'.repeat(212)}`],
  ['hash part of 31 chars', `/nix/store/${HASH.slice(1)}-x`],
  ['hash part of 33 chars', `/nix/store/0${HASH}-x`],
  ['hash part with "e"', `/nix/store/e${HASH.slice(1)}-x`],
  ['hash part in uppercase', `/nix/store/${HASH.toUpperCase()}-x`],
  ['double slash', `/nix/store//${HASH}-x`],
];

for (const [what, path] of PATH_REJECTS) {
  test(`store path rejects ${what} with MalformedError`, (t) => {
    t.throws(() => parseStorePath(path), { instanceOf: MalformedError });
  });
}

const DIR_REJECTS: [string, string][] = [
  ['relative', 'nix/store'],
  ['trailing slash', '/nix/store/'],
  ['root only', '/'],
  ['empty', ''],
  ['dot-dot segment', '/nix/../store'],
  ['";" (the fingerprint separator)', '/nix;store'],
  ['"," (the reference separator)', '/nix,store'],
];

for (const [what, dir] of DIR_REJECTS) {
  test(`store dir rejects ${what} with MalformedError`, (t) => {
    t.throws(() => checkStoreDir(dir), { instanceOf: MalformedError });
  });
}

const HASH_PART_REJECTS: [string, string][] = [
  ['empty', ''],
  ['31 chars', HASH.slice(1)],
  ['33 chars', `${HASH}0`],
  ['invalid char', `${HASH.slice(1)}u`],
  ['path traversal', '../../../../etc/passwd/aaaaaaaaa'],
];

for (const [what, text] of HASH_PART_REJECTS) {
  test(`hash part rejects ${what} with MalformedError`, (t) => {
    t.throws(() => parseHashPart(text), { instanceOf: MalformedError });
  });
}

test('narinfo file name rejects other suffixes and bad hash parts', (t) => {
  for (const name of [`${HASH}.nar`, `${HASH}.narinfo.bak`, `${HASH}`, '.narinfo', `${HASH}x.narinfo`])
    t.throws(() => parseNarinfoFileName(name), { instanceOf: MalformedError }, name);
});
