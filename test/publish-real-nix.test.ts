/**
 * The builder's path end to end with the real Nix client: a running node, Nix's post-build-hook set to
 * the spool hook `trustix init` writes (the node takes each file in as it appears), a few builds; the log then holds exactly their fingerprints, as Nix reports them, and an
 * outside verifier accepts the log over HTTP.
 */
import { execFile } from 'node:child_process';
import { appendFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TrustixNode } from '../node/assembly/trustix-node.ts';
import { writePostBuildHook } from '../node/own-log/post-build-hook.ts';
import { dataDir, initDataDir } from '../node/store/data-dir.ts';
import { openCheckpoint } from '../protocol/checkpoint.ts';
import { proveInclusion, verifyInclusion } from '../protocol/inclusion-proof.ts';
import { leafHash } from '../protocol/merkle.ts';
import { tileHashReader } from '../protocol/tile-hash-reader.ts';
import { formatTilePath } from '../protocol/tile-path.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { nixFingerprint, nixTest, realNix } from './helpers/real-nix.ts';

const decoder = new TextDecoder();
const run = promisify(execFile);

nixTest(
  'Nix builds with our post-build hook: the log holds exactly the fingerprints Nix reports',
  async (t) => {
    const nix = await realNix();
    const dataDirPath = await tempDir('trustix-builder-');
    await initDataDir(dataDirPath, { name: 'builder-test-1' });
    const node = new TrustixNode({
      dataDir: dataDirPath,
      http: { port: 0 },
      p2p: false,
      sequencer: { intervalMs: 50 },
      nix: { env: nix.env },
    });
    await node.start();
    t.teardown(async () => {
      await node.stop();
      await nix.cleanup();
      await rm(dataDirPath, { recursive: true, force: true });
    });
    const paths = dataDir(dataDirPath);
    await writePostBuildHook(paths.postBuildHook, paths.spool);
    await appendFile(join(nix.dir, 'conf', 'nix.conf'), `post-build-hook = ${paths.postBuildHook}\n`);
    const env = nix.env;

    const s = nix.salt;
    const file = await nix.writeNix(
      'builds',
      `let mk = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" script]; }; in rec {
      a = mk "pub-a" "echo ${s} > $out";
      b = mk "pub-b" "/bin/mkdir -p $out/bin; echo ${s} > $out/salt; echo '#!/bin/sh' > $out/bin/x; /bin/chmod +x $out/bin/x; /bin/ln -s bin/x $out/x";
      c = mk "pub-c" "/bin/mkdir $out; echo \${a} > $out/dep; echo ${s} > $out/salt";
      multi = derivation { name = "pub-multi"; system = builtins.currentSystem; builder = "/bin/sh";
        outputs = ["out" "dev"]; args = ["-c" "echo ${s} > $out; echo ${s} > $dev"]; };
    }`,
    );
    for (const attr of ['a', 'b', 'c', 'multi']) {
      await run('nix-build', [file, '-A', attr, '--no-out-link'], { env, timeout: 120_000 });
    }
    // Every output of every derivation built: the hook hands the node the derivation.
    const outputs: string[] = [];
    for (const attr of ['a', 'b', 'c', 'multi']) {
      const drv = await nix.instantiate(file, attr);
      outputs.push(
        ...(await nix.nix('nix-store', ['--query', '--outputs', drv])).split('\n').filter(Boolean),
      );
    }
    t.is(outputs.length, 5);

    const expected = await Promise.all(outputs.map((p) => nixFingerprint(nix, p)));
    const log = node.ownLog;
    for (let i = 0; i < 100 && log.size < expected.length; i++) await new Promise((r) => setTimeout(r, 100));
    const entries: string[] = [];
    for (let i = 0; i < log.size; i++) entries.push(decoder.decode((await log.entry(i))!));
    t.deepEqual([...entries].sort(), [...expected].sort());

    // An outside verifier: checkpoint and tiles over HTTP, checked with the log key only.
    const { host, port } = node.httpAddress();
    const base = `http://${host}:${port}/logs/${node.keys.log.logId}`;
    const note = new Uint8Array(await (await fetch(`${base}/checkpoint`)).arrayBuffer());
    const cp = openCheckpoint(note, node.keys.log.verifier);
    t.is(cp.size, expected.length);
    const reader = tileHashReader(cp.size, cp.root, {
      readTiles: (tiles) =>
        Promise.all(
          tiles.map(async (tile) => {
            const res = await fetch(`${base}/${formatTilePath(tile)}`);
            t.is(res.status, 200);
            return new Uint8Array(await res.arrayBuffer());
          }),
        ),
    });
    for (let i = 0; i < cp.size; i++) {
      const proof = await proveInclusion(cp.size, i, reader);
      t.notThrows(() =>
        verifyInclusion(i, cp.size, leafHash(new TextEncoder().encode(entries[i]!)), proof, cp.root),
      );
    }
  },
);
