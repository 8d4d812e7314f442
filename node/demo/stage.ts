/**
 * What the steps of `trustix demo` work with while the demo runs: where they print, how long they may
 * wait, what the nodes are called, and what must be undone when it stops. An interface of its own so that
 * the steps (network-steps.ts, verdict-steps.ts) can live apart from the run that calls them
 * (run-demo.ts) without importing it back.
 */
import type { WaitContext } from './waits.ts';

export interface DemoStage {
  /** Stops the demo, at any step (DemoOptions.signal). */
  readonly signal: AbortSignal | undefined;
  readonly ctx: WaitContext;
  /** The demo's temporary directory: one data directory per node. */
  readonly dir: string;
  /** The dashboard's URL, once the user's node was up. */
  readonly dashboard: string | undefined;
  /** Undone when the demo stops (listeners the steps added). */
  readonly cleanups: (() => void)[];
  /** Prints one line, tagged `[tag]`. */
  say(tag: string, text: string): void;
  /** What the demo calls the node with this PeerId. */
  peerName(peerId: string): string;
  /** Aborts a request at the step's time limit, or when the demo stops. */
  requestSignal(): AbortSignal;
}
