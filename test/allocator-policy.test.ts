/**
 * The node's allocator policy (node/runtime/allocator-policy.ts) keeps V8's young generation from growing
 * under a burst of short-lived allocations, as a sync makes. Each test file runs in its own process
 * (ava, workerThreads false), so the flags set here touch this file's tests only.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import test from 'ava';
import { applyAllocatorPolicy, DAEMON_ENVIRONMENT } from '../node/runtime/allocator-policy.ts';

const DEPLOY = join(import.meta.dirname, '..', 'docs', 'deploy');

const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

/** A burst of garbage with a working set that survives a few scavenges (what makes V8 grow it). */
function burst(): number {
  let keep: { a: number; b: string }[] = [];
  let n = 0;
  for (let i = 0; i < 2_000_000; i++) {
    keep.push({ a: i, b: `entry ${i}` });
    if (keep.length > 20_000) {
      n += keep.length;
      keep = [];
    }
  }
  return n + keep.length;
}

test('after the policy, a burst of allocations does not grow the young generation', async (t) => {
  await applyAllocatorPolicy();
  const before = newSpace();
  t.true(burst() > 0);
  t.true(newSpace() <= before, `new space grew from ${before} to ${newSpace()} bytes`);
});

test('the systemd unit and the NixOS module start the node with DAEMON_ENVIRONMENT', async (t) => {
  const unit = await readFile(join(DEPLOY, 'trustix.service'), 'utf8');
  const module = await readFile(join(DEPLOY, 'nixos-module.nix'), 'utf8');
  for (const [name, value] of Object.entries(DAEMON_ENVIRONMENT)) {
    // systemd's form: quoted when the value holds a space.
    const line = value.includes(' ') ? `Environment="${name}=${value}"` : `Environment=${name}=${value}`;
    t.true(unit.includes(`\n${line}\n`), `trustix.service: ${line}`);
    t.true(module.includes(`"${name}=${value}"`), `nixos-module.nix: ${name}=${value}`);
  }
});
