/**
 * The node's side of one sandbox: a `node:worker_threads` Worker running the glue of script-sandbox.ts,
 * so that even a busy script never blocks the node's thread. Its own module because it owns the worker's
 * life (start, load, calls, death) and the limits the parent enforces; the decider only asks it for
 * answers. A parent-side timer terminates the worker as a backstop, should QuickJS not stop the script.
 * Protocol between this module and the worker's bootstrap:
 *   worker -> parent, once loaded:  {id: 0, ok: true}  or  {id: 0, ok: false, error}
 *   parent -> worker, per call:     {id, votes, timeoutMs}   votes: [{log, logId, weight, fingerprints, forked}]
 *   worker -> parent, per call:     {id, ok: true, value: string | null, type}
 *                                or {id, ok: false, error, timedOut?, fatal?}
 */
import { Worker } from 'node:worker_threads';
import { logger } from '@libp2p/logger';
import { DeciderScriptError, describe } from './script-module.ts';
import { BOOTSTRAP, QUICKJS } from './script-sandbox.ts';

const log = logger('trustix:decider');

/** Evaluating a module may legitimately take longer than one call: it gets its own limit in the sandbox. */
const LOAD_TIMEOUT_MS = 10_000;
/**
 * Starting a worker and compiling QuickJS (about 0.1 s when idle) is the node's cost, not the script's,
 * and takes seconds on a loaded machine: the parent waits this long for a sandbox to be ready.
 */
const START_TIMEOUT_MS = 30_000;
/** The parent's backstop beyond a call's time limit, should QuickJS not come back to its interrupt check. */
const BACKSTOP_MS = 2000;
/** The V8 heap of the worker's own glue code (the script's memory is QuickJS's, in WebAssembly memory). */
const GLUE_HEAP_MB = 64;

/** How a call ends: the script's value, its failure, its time limit, or the worker's death. */
export type Answer =
  | { readonly kind: 'value'; readonly value: string | null; readonly type: string }
  | { readonly kind: 'error'; readonly error: string }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'gone'; readonly why: string };

/** One worker with the module loaded in its sandbox; at most one call in flight. */
export class ScriptWorker {
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  readonly #onGone: (w: ScriptWorker) => void;
  #gone: string | undefined;
  #loaded: ((error?: string) => void) | undefined;
  #pending: { readonly id: number; readonly answer: (a: Answer) => void } | undefined;
  #nextId = 1;

  constructor(modulePath: string, source: string, maxHeapMb: number, onGone: (w: ScriptWorker) => void) {
    this.#onGone = onGone;
    this.#worker = new Worker(BOOTSTRAP, {
      eval: true,
      execArgv: [], // not the parent's `--import tsx`: the glue is plain JavaScript
      workerData: {
        ...QUICKJS,
        source,
        name: modulePath,
        memoryBytes: maxHeapMb * 1024 * 1024,
        loadTimeoutMs: LOAD_TIMEOUT_MS,
      },
      resourceLimits: { maxOldGenerationSizeMb: GLUE_HEAP_MB },
      stdout: true,
      stderr: true,
    });
    // An idle worker must not keep the process alive; pending calls hold their own timers.
    this.#worker.unref();
    // Nothing in the sandbox can print; the glue's own output goes to the debug log.
    for (const stream of [this.#worker.stdout, this.#worker.stderr])
      stream.on('data', (chunk: Buffer) =>
        log('script %s: %s', modulePath, chunk.toString('utf8').trimEnd()),
      );
    this.ready = new Promise<void>((resolveReady, rejectReady) => {
      const timer = setTimeout(
        () =>
          this.#terminate(`starting and loading timed out after ${START_TIMEOUT_MS + LOAD_TIMEOUT_MS} ms`),
        START_TIMEOUT_MS + LOAD_TIMEOUT_MS,
      );
      this.#loaded = (error) => {
        clearTimeout(timer);
        this.#loaded = undefined;
        if (error === undefined) resolveReady();
        else rejectReady(new DeciderScriptError(error));
      };
    });
    this.ready.catch(() => {}); // awaited by whoever needs it; never an unhandled rejection
    this.#worker.on('message', (m: unknown) => this.#onMessage(m));
    this.#worker.on('error', (e: unknown) => this.#die(describe(e)));
    this.#worker.on('exit', (code: number) => this.#die(`exited with code ${code}`));
  }

  #onMessage(m: unknown): void {
    if (m === null || typeof m !== 'object') return;
    const { id, ok, value, type, error, timedOut, fatal } = m as { [key: string]: unknown };
    if (id === 0) {
      if (ok === true) this.#loaded?.();
      else this.#terminate(typeof error === 'string' ? error : 'the module failed to load');
      return;
    }
    const pending = this.#pending;
    if (pending === undefined || id !== pending.id) return;
    if (ok === true)
      pending.answer({
        kind: 'value',
        value: typeof value === 'string' ? value : null,
        type: typeof type === 'string' ? type : 'undefined',
      });
    else if (timedOut === true) pending.answer({ kind: 'timeout' });
    else pending.answer({ kind: 'error', error: typeof error === 'string' ? error : 'unknown error' });
    // Interrupted or out of memory: the sandbox's state is suspect; the next call gets a fresh one.
    if (fatal === true) void this.#terminate('its last call was interrupted or ran out of memory');
  }

  #die(why: string): void {
    if (this.#gone !== undefined) return;
    this.#gone = why;
    this.#loaded?.(why);
    this.#pending?.answer({ kind: 'gone', why });
    this.#onGone(this);
  }

  #terminate(why: string): Promise<void> {
    this.#die(why);
    return this.#worker.terminate().then(
      () => {},
      () => {},
    );
  }

  /**
   * Posts one call; answers once, with the reply, a timeout (the sandbox interrupts the script at
   * `timeoutMs`; the worker is terminated if it does not answer soon after) or its death.
   */
  request(votes: readonly object[], timeoutMs: number): Promise<Answer> {
    if (this.#gone !== undefined) return Promise.resolve({ kind: 'gone', why: this.#gone });
    const id = this.#nextId++;
    return new Promise<Answer>((resolveAnswer) => {
      const timer = setTimeout(() => {
        this.#pending = undefined;
        resolveAnswer({ kind: 'timeout' });
        void this.#terminate('timed out');
      }, timeoutMs + BACKSTOP_MS);
      this.#pending = {
        id,
        answer: (a) => {
          clearTimeout(timer);
          this.#pending = undefined;
          resolveAnswer(a);
        },
      };
      try {
        this.#worker.postMessage({ id, votes, timeoutMs });
      } catch (error) {
        this.#pending.answer({ kind: 'error', error: describe(error) });
      }
    });
  }

  terminate(): Promise<void> {
    return this.#terminate('closed');
  }
}
