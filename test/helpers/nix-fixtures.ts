/**
 * The Nix vectors under test/fixtures/nix (made with real Nix 2.8.0; see its README.md), and the
 * test keys decoded minimally (key-file parsing is protocol/keys.ts's job, not these tests').
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type SigningKey,
  signingKeyFromSeed,
  type VerifyingKey,
  verifyingKey,
} from '../../protocol/ed25519.ts';

export const NIX_FIXTURES = resolve(import.meta.dirname, '..', 'fixtures', 'nix');

export interface FileVector {
  readonly url: string;
  readonly fileHash: string;
  readonly fileSize: number;
}

export interface NixVector {
  readonly name: string;
  readonly storePath: string;
  readonly hashPart: string;
  readonly deriver: string;
  readonly narFile: string;
  readonly narHash: string;
  readonly narHashSRI: string;
  readonly narHashHex: string;
  readonly narSize: number;
  readonly references: readonly string[];
  readonly fingerprint: string;
  readonly sigTrustixTest1: string;
  readonly sigTrustixTest2: string;
  readonly narinfoXz: string;
  readonly fileXz: FileVector;
  readonly narinfoNone: string;
  readonly fileNone: FileVector;
}

interface VectorsFile {
  readonly storeDir: string;
  readonly keys: Readonly<Record<string, { secret: string; public: string }>>;
  readonly vectors: readonly NixVector[];
}

export const VECTORS: VectorsFile = JSON.parse(readFileSync(join(NIX_FIXTURES, 'vectors.json'), 'utf8'));

export function fixture(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(join(NIX_FIXTURES, rel)));
}

export interface TestKey {
  readonly name: string;
  readonly signing: SigningKey;
  readonly verifying: VerifyingKey;
}

/** `NAME:base64(seed32 || pub32)` -> keys; checks the public half matches the seed. */
export function testKey(name: string): TestKey {
  const entry = VECTORS.keys[name];
  if (entry === undefined) throw new Error(`no test key ${name}`);
  const secret = Buffer.from(entry.secret.slice(name.length + 1), 'base64');
  const pub = Buffer.from(entry.public.slice(name.length + 1), 'base64');
  const signing = signingKeyFromSeed(secret.subarray(0, 32));
  if (!Buffer.from(signing.publicKey).equals(secret.subarray(32)) || !pub.equals(secret.subarray(32)))
    throw new Error(`test key ${name}: public half does not match the seed`);
  return { name, signing, verifying: verifyingKey(pub) };
}
