/**
 * The fan-out of one lookup over its candidates: whom to ask when (one first, a second once needed or
 * after `hedgeMs`, a busy one once more) and when the answers settle the result. Apart from the exchange
 * with a peer (node/network/lookup-exchange.ts) and from the choice of candidates
 * (node/network/lookup-candidates.ts) because it is the timing alone: it sees only their Answers.
 */
import type { PeerId } from '@libp2p/interface';
import { DeadlineExceededError } from '../errors.ts';
import type { LookupClientInit } from './lookup-client-init.ts';
import type { Answer, LookupResult } from './lookup-result.ts';

/** One exchange with one candidate, abandoned on `cancel`; never throws. */
export type AskOne = (peer: PeerId, cancel: AbortSignal) => Promise<Answer>;

/**
 * Asks the candidates: one, then up to `parallel` at a time once the first answered or `hedgeMs`
 * passed (a slot freed by a failure goes to the next candidate at once). The first answer with entries
 * wins; answers of "none" are collected until `parallel` of them verified or no candidate is left, and
 * the union of what verified is the result. A candidate that was busy or timed out is asked once more,
 * after `busyBackoffMs`, once the others were.
 */
export function fanOut(
  candidates: PeerId[],
  askOne: AskOne,
  init: Pick<Required<LookupClientInit>, 'parallel' | 'hedgeMs' | 'busyBackoffMs'>,
): Promise<LookupResult> {
  const queue = candidates.map((peer) => ({ peer, again: false }));
  const asked = new Set<string>();
  const found: (Answer & { kind: 'entries' })[] = [];
  const tooMany: string[] = [];
  const controller = new AbortController();
  let inFlight = 0;
  let done = false;
  // Until the first answer (or hedgeMs), one request: most paths are settled by one provider.
  let hedged = false;
  let hedge: ReturnType<typeof setTimeout> | undefined;
  return new Promise<LookupResult>((resolve) => {
    const finish = () => {
      done = true;
      clearTimeout(hedge);
      controller.abort(new DeadlineExceededError('another provider answered'));
      if (found.length > 0) {
        // The union: a provider may leave entries out, never put one in (each one verified).
        const byIndex = new Map<number, { index: number; entry: string }>();
        for (const a of found) for (const e of a.entries) byIndex.set(e.index, e);
        const entries = [...byIndex.values()].sort((x, y) => x.index - y.index);
        resolve({ kind: 'entries', entries, from: found.map((a) => a.peer) });
      } else if (tooMany.length > 0) resolve({ kind: 'tooMany', from: tooMany });
      else
        resolve({
          kind: 'unavailable',
          reason: `none of ${candidates.length} provider(s) answered`,
        });
    };
    const launch = (peer: PeerId) => {
      inFlight++;
      void askOne(peer, controller.signal).then((answer) => {
        inFlight--;
        if (done) return;
        hedged = true;
        if (answer.kind === 'entries') {
          found.push(answer);
          if (answer.entries.length > 0) return finish();
        } else if (answer.kind === 'tooMany') tooMany.push(answer.peer);
        else if (answer.again && !asked.has(`again ${answer.peer}`)) {
          asked.add(`again ${answer.peer}`);
          queue.push({ peer, again: true });
        }
        next();
      });
    };
    const next = () => {
      // Verified answers of "none" and requests in flight together: at most `parallel`.
      const limit = hedged ? init.parallel : 1;
      while (!done && inFlight < limit && found.length + inFlight < init.parallel && queue.length > 0) {
        const { peer, again } = queue.shift()!;
        if (again) {
          inFlight++;
          setTimeout(() => {
            inFlight--;
            if (!done) launch(peer);
            else return;
            next();
          }, init.busyBackoffMs).unref();
        } else launch(peer);
      }
      if (!done && inFlight === 0 && (queue.length === 0 || found.length >= init.parallel)) finish();
    };
    hedge = setTimeout(() => {
      hedged = true;
      next();
    }, init.hedgeMs);
    hedge.unref();
    next();
  });
}
