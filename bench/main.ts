/**
 * `npm run bench [-- SUITE...]`: runs the named benchmark suites (all when none is named)
 * and prints one JSON document per suite on stdout.
 */
import type { SuiteResult } from './harness.ts';

// No benchmark node contacts anything but the addresses it is given (docs/CLI.md, TRUSTIX_LOCAL_ONLY);
// set here too for runs that bypass `npm run bench`. Read when nodes are built, after this line.
process.env['TRUSTIX_LOCAL_ONLY'] = '1';

const suites: Record<string, () => Promise<SuiteResult>> = {
  protocol: async () => (await import('./protocol.ts')).run(),
  log: async () => (await import('./log.ts')).run(),
  hook: async () => (await import('./hook.ts')).run(),
  network: async () => (await import('./network.ts')).run(),
  substituter: async () => (await import('./substituter.ts')).run(),
  stats: async () => (await import('./stats.ts')).run(),
  cli: async () => (await import('./cli.ts')).run(),
  memory: async () => (await import('./memory.ts')).run(),
  hostile: async () => (await import('./hostile.ts')).run(),
  internet: async () => (await import('./internet.ts')).run(),
  swarm: async () => (await import('./swarm.ts')).run(),
  light: async () => (await import('./light.ts')).run(),
  links: async () => (await import('./links.ts')).run(),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in suites));
if (unknown.length > 0) {
  process.stderr.write(`unknown suite(s): ${unknown.join(', ')}; known: ${Object.keys(suites).join(', ')}\n`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(suites)) {
  const result = await suites[name]!();
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
