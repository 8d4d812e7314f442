/**
 * The `script` decider (docs/CLI.md, the deciders): a user ES module (.mjs/.js) exporting
 * `decide(votes)`, which returns (or resolves to) a fingerprint string, or null/undefined for "no decision".
 *
 * The script is untrusted code (docs/SECURITY.md "Script deciders"). It runs in QuickJS compiled to
 * WebAssembly (script-sandbox.ts), inside a `node:worker_threads` Worker (script-worker.ts); what goes in
 * and comes out is script-module.ts. This module is the decider's lifecycle: its limits, its start, its
 * queue of calls and the outcome of each.
 * Calls are posted one at a time, in order. A call that times out or runs out of memory ends its
 * worker; a worker that dies fails its call; either way the next call starts a fresh worker.
 * Outcomes that decide nothing, with their reason:
 *   a timeout                          "script timed out after N ms"
 *   a throw or a rejection             "script failed: <message>"   (also logged with log.error)
 *   out of memory                      "script failed: out of memory"
 *   a dead worker                      "script worker died: <why>"
 *   null or undefined                  "script made no decision"
 *   not a string, or a string no non-abstaining log voted for
 *                                      "script returned a value no log voted for"
 *   close() with calls pending         "decider closed"
 */
import { resolve } from 'node:path';
import { logger } from '@libp2p/logger';
import { OutOfRangeError } from '../../protocol/errors.ts';
import { checkPermissions } from '../store/file-permissions.ts';
import type { Decider, DeciderOutcome, DeciderSpec, LogVote } from './decider-spec.ts';
import { DeciderScriptError, describe, plainVotes, readSource, votedFor } from './script-module.ts';
import { ScriptWorker } from './script-worker.ts';

const log = logger('trustix:decider');

export interface ScriptDeciderInit {
  /** Per-call time limit. Default 1000 ms. */
  readonly timeoutMs?: number;
  /** The script's memory limit in MiB (QuickJS's allocator). Default 64. */
  readonly maxHeapMb?: number;
  /** Directory a relative module path is resolved against. Default process.cwd(). */
  readonly baseDir?: string;
}

const DEFAULT_TIMEOUT_MS = 1000;
const DEFAULT_HEAP_MB = 64;

interface Call {
  readonly votes: readonly LogVote[];
  readonly settle: (outcome: DeciderOutcome) => void;
}

export class ScriptDecider implements Decider {
  readonly spec: DeciderSpec;
  readonly #path: string;
  readonly #timeoutMs: number;
  readonly #maxHeapMb: number;
  readonly #queue: Call[] = [];
  #worker: Promise<ScriptWorker> | undefined;
  #pumping = false;
  #closed = false;

  constructor(modulePath: string, init: ScriptDeciderInit = {}) {
    const { timeoutMs, maxHeapMb = DEFAULT_HEAP_MB } = init;
    if (
      timeoutMs !== undefined &&
      !(Number.isSafeInteger(timeoutMs) && timeoutMs >= 1 && timeoutMs <= 60_000)
    )
      throw new OutOfRangeError(
        `a script time limit must be an integer from 1 to 60000 ms, not ${timeoutMs}`,
      );
    if (!(Number.isSafeInteger(maxHeapMb) && maxHeapMb >= 8))
      throw new OutOfRangeError(`a script heap limit must be an integer of at least 8 MiB, not ${maxHeapMb}`);
    this.spec =
      timeoutMs === undefined
        ? { kind: 'script', module: modulePath }
        : { kind: 'script', module: modulePath, timeoutMs };
    this.#path = resolve(init.baseDir ?? process.cwd(), modulePath);
    this.#timeoutMs = timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxHeapMb = maxHeapMb;
  }

  /** The current worker, or a new one with the module's source read afresh. */
  #spawn(): Promise<ScriptWorker> {
    if (this.#worker === undefined) {
      const forget = () => {
        if (this.#worker === spawned) this.#worker = undefined;
      };
      const spawned: Promise<ScriptWorker> = readSource(this.#path).then(
        (source) => new ScriptWorker(this.#path, source, this.#maxHeapMb, forget),
        (error: unknown) => {
          forget();
          throw error;
        },
      );
      spawned.catch(() => {}); // awaited by whoever needs it
      this.#worker = spawned;
    }
    return this.#worker;
  }

  /** Spawns the worker and loads the module; DeciderScriptError when it cannot. */
  async start(): Promise<void> {
    if (this.#closed) throw new DeciderScriptError(`decider script ${this.#path}: the decider is closed`);
    // The node runs it: nobody else may be able to change it (docs/SECURITY.md).
    await checkPermissions(this.#path, { what: 'the decider script' });
    try {
      await (await this.#spawn()).ready;
    } catch (error) {
      throw new DeciderScriptError(`cannot load decider script ${this.#path}: ${describe(error)}`, {
        cause: error,
      });
    }
  }

  decide(votes: readonly LogVote[]): Promise<DeciderOutcome> {
    if (this.#closed) return Promise.resolve({ reason: 'decider closed' });
    return new Promise<DeciderOutcome>((settle) => {
      this.#queue.push({ votes, settle });
      void this.#pump();
    });
  }

  /** Runs the queued calls one at a time; never rejects. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (let call = this.#queue[0]; call !== undefined && !this.#closed; call = this.#queue[0]) {
        let outcome: DeciderOutcome;
        try {
          outcome = await this.#run(call.votes);
        } catch (error) {
          outcome = { reason: `script failed: ${describe(error)}` };
        }
        if (this.#queue[0] === call) this.#queue.shift();
        call.settle(outcome);
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #run(votes: readonly LogVote[]): Promise<DeciderOutcome> {
    let worker: ScriptWorker;
    try {
      worker = await this.#spawn();
      await worker.ready;
    } catch (error) {
      log.error('decider script %s failed to load: %s', this.#path, describe(error));
      return { reason: `script failed to load: ${describe(error)}` };
    }
    if (this.#closed) return { reason: 'decider closed' };
    const answer = await worker.request(plainVotes(votes), this.#timeoutMs);
    if (this.#closed) return { reason: 'decider closed' };
    switch (answer.kind) {
      case 'timeout':
        log.error('decider script %s timed out after %d ms', this.#path, this.#timeoutMs);
        return { reason: `script timed out after ${this.#timeoutMs} ms` };
      case 'gone':
        log.error('decider script %s: worker died: %s', this.#path, answer.why);
        return { reason: `script worker died: ${answer.why}` };
      case 'error':
        log.error('decider script %s failed: %s', this.#path, answer.error);
        return { reason: `script failed: ${answer.error}` };
      case 'value':
        if (answer.type === 'undefined' || answer.type === 'null')
          return { reason: 'script made no decision' };
        if (answer.value === null || !votedFor(votes, answer.value)) {
          log('decider script %s returned a %s no log voted for', this.#path, answer.type);
          return { reason: 'script returned a value no log voted for' };
        }
        return { fingerprint: answer.value };
    }
  }

  /** Terminates the worker; pending calls resolve with "decider closed". */
  async close(): Promise<void> {
    this.#closed = true;
    for (const call of this.#queue.splice(0)) call.settle({ reason: 'decider closed' });
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) await (await worker.catch(() => undefined))?.terminate();
  }
}
