/**
 * Hostile `script` deciders (docs/SECURITY.md "Script deciders"): a script is untrusted code and must
 * not read the node's files (the cache key signs what Nix accepts), write files, start programs, use
 * the network or stop the node. Each script here tries one of these; with the old worker-thread
 * decider every attempt succeeded.
 */
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { LogVote } from '../../node/vote/decider.ts';
import { ScriptDecider } from '../../node/vote/script-decider.ts';
import { DeciderScriptError } from '../../node/vote/script-module.ts';

const X = 'sha256:xxxx';
const Y = 'sha256:yyyy';
const votes: LogVote[] = [
  { log: 'a', logId: 'id-a', weight: 1, fingerprints: [X], forked: false },
  { log: 'b', logId: 'id-b', weight: 1, fingerprints: [Y], forked: false },
];

let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trustix-hostile-script-'));
  await writeFile(join(dir, 'cache.secret'), 'user-cache-1:c2VjcmV0\n');
});
test.after.always(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

async function script(t: { teardown(fn: () => Promise<void>): void }, name: string, source: string) {
  await writeFile(join(dir, name), source);
  const d = new ScriptDecider(join(dir, name), { timeoutMs: 2000 });
  t.teardown(() => d.close());
  return d;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

test('a script importing node:fs to read the cache key does not load', async (t) => {
  const d = await script(
    t,
    'steal.mjs',
    `import { readFileSync } from 'node:fs';
     export function decide(votes) { return readFileSync(${JSON.stringify(join(dir, 'cache.secret'))}, 'utf8') ? votes[0].fingerprints[0] : null; }`,
  );
  await t.throwsAsync(d.start(), {
    instanceOf: DeciderScriptError,
    message: /could not load module 'node:fs'/,
  });
});

test('dynamic import, require and the Function constructor reach nothing: no files written, no programs run', async (t) => {
  const marker = join(dir, 'written-by-script');
  const d = await script(
    t,
    'escape.mjs',
    `export async function decide(votes) {
       const tries = [];
       try { (await import('node:fs')).writeFileSync(${JSON.stringify(marker)}, 'x'); tries.push('import'); } catch {}
       try { require('node:child_process').execSync('touch ${marker}'); tries.push('require'); } catch {}
       try { (function () {}).constructor('return process')().mainModule; tries.push('process'); } catch {}
       try { globalThis.process.kill(globalThis.process.pid); tries.push('kill'); } catch {}
       return tries.length === 0 ? votes[0].fingerprints[0] : votes[1].fingerprints[0];
     }`,
  );
  t.deepEqual(await d.decide(votes), { fingerprint: X }, 'every escape failed inside the sandbox');
  t.false(await exists(marker), 'nothing was written');
});

test('the sandbox has no host objects: no process, fetch, WebAssembly, timers, console, Node or QuickJS std/os', async (t) => {
  const d = await script(
    t,
    'probe.mjs',
    `export function decide(votes) {
       const names = ['process', 'require', 'module', 'fetch', 'WebAssembly', 'setTimeout', 'setInterval',
         'queueMicrotask', 'console', 'Buffer', 'std', 'os', 'Deno', 'Bun', 'XMLHttpRequest', 'WebSocket'];
       const present = names.filter((n) => typeof globalThis[n] !== 'undefined');
       return present.length === 0 ? votes[0].fingerprints[0] : votes[1].fingerprints[0];
     }`,
  );
  t.deepEqual(await d.decide(votes), { fingerprint: X });
});

test('a script asking for a gigabyte fails its call with "out of memory"; the node goes on', async (t) => {
  const d = await script(
    t,
    'hog.mjs',
    `export function decide(votes) {
       if (votes[0].log === 'a') return new ArrayBuffer(1 << 30).byteLength ? votes[0].fingerprints[0] : null;
       return votes[0].fingerprints[0];
     }`,
  );
  t.deepEqual(await d.decide(votes), { reason: 'script failed: out of memory' });
  t.deepEqual(await d.decide([votes[1]!]), { fingerprint: Y }, 'the next call gets a fresh sandbox');
});
