/**
 * The parts of something being assembled, in the order they were started, so that they are stopped in
 * reverse (and listeners added along the way removed) whether assembly finished or failed half-way.
 * A part that fails to stop is logged and the others are stopped anyway.
 */
import type { TypedEventTarget } from '@libp2p/interface';
import { logger } from '@libp2p/logger';

const log = logger('trustix:node');

export class StartedParts {
  private readonly stops: (() => Promise<void> | void)[] = [];

  /** Something started; `stop` undoes it. */
  add(stop: () => Promise<void> | void): void {
    this.stops.push(stop);
  }

  /** Adds `listener` to `target`, removed on stop. */
  listen<Events extends { [E in keyof Events]: Event }, K extends keyof Events & string>(
    target: TypedEventTarget<Events>,
    type: K,
    listener: (e: Events[K]) => void,
  ): void {
    target.addEventListener(type, listener);
    this.add(() => target.removeEventListener(type, listener));
  }

  /** Stops every part, last started first. */
  async stop(): Promise<void> {
    for (const stop of this.stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        log.error('stopping: %s', err);
      }
    }
  }
}
