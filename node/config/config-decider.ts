/**
 * A `vote` entry of the config file, a decider: its own module because it has a grammar of its own (a
 * shorthand string or one of four objects) that the section parser (node/config/config-parser.ts) hands over to.
 *
 * A decider is a shorthand string (parseDeciderSpec) or an object:
 *   { "threshold": { "count": 3, "fraction": "3/4" } }   fraction as "M/N" or a decimal
 *   { "majority": { "count": 2 } }                        more than half of the weight (count default 2)
 *   { "trust": "NAME" }
 *   { "script": "./decide.mjs", "timeoutMs": 1000 }       relative to the config file's directory
 */
import { resolve } from 'node:path';
import type { Node } from 'jsonc-parser';
import { checkDeciderSpec, type DeciderSpec, parseDeciderSpec, parseFraction } from '../vote/decider.ts';
import type { ConfigReader } from './config-file.ts';

export function decider(r: ConfigReader, node: Node, option: string, baseDir: string): DeciderSpec {
  const anchored = (spec: DeciderSpec): DeciderSpec =>
    spec.kind === 'script' ? { ...spec, module: resolve(baseDir, spec.module) } : spec;
  if (node.type === 'string') return anchored(r.parsed(node, option, parseDeciderSpec));
  const props = r.properties(node, option);
  const [kind, , value] = props[0] ?? r.fail(node, option, 'empty decider');
  const check = (spec: DeciderSpec) => {
    try {
      return checkDeciderSpec(spec);
    } catch (err) {
      return r.fail(node, option, (err as Error).message);
    }
  };
  if (kind !== 'script' && props.length > 1)
    r.fail(props[1]![1], `${option}.${props[1]![0]}`, 'unknown option');
  switch (kind) {
    case 'threshold': {
      let count: number | undefined;
      let fraction: ReturnType<typeof parseFraction> | undefined;
      r.object(value, `${option}.threshold`, {
        count: (v, o) => (count = r.integer(v, o, 1, Number.MAX_SAFE_INTEGER)),
        fraction: (v, o) => {
          if (v.type !== 'string' && v.type !== 'number') r.fail(v, o, 'expected "M/N" or a decimal 0..1');
          try {
            fraction = parseFraction(String(v.value));
          } catch (err) {
            r.fail(v, o, (err as Error).message);
          }
        },
      });
      if (count === undefined || fraction === undefined)
        return r.fail(value, `${option}.threshold`, 'needs both count and fraction');
      return check({ kind: 'threshold', count, fraction });
    }
    case 'majority': {
      let count = 2;
      r.object(value, `${option}.majority`, {
        count: (v, o) => (count = r.integer(v, o, 1, Number.MAX_SAFE_INTEGER)),
      });
      return check({ kind: 'threshold', count, fraction: { numerator: 1, denominator: 2 }, strict: true });
    }
    case 'trust':
      return check({ kind: 'trust', log: r.string(value, `${option}.trust`) });
    case 'script': {
      let timeoutMs: number | undefined;
      for (const [key, k, v] of props.slice(1)) {
        if (key !== 'timeoutMs') r.fail(k, `${option}.${key}`, 'unknown option (known: timeoutMs)');
        timeoutMs = r.integer(v, `${option}.timeoutMs`, 1, 60_000);
      }
      return anchored(
        check({
          kind: 'script',
          module: r.string(value, `${option}.script`),
          ...(timeoutMs ? { timeoutMs } : {}),
        }),
      );
    }
    default:
      return r.fail(
        props[0]![1],
        `${option}.${kind}`,
        'unknown decider (known: threshold, majority, trust, script)',
      );
  }
}
