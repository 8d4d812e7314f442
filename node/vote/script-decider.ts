/**
 * The `script` decider (docs/CLI.md, the deciders): a user ES module (.mjs/.js) exporting
 * `decide(votes)`, which returns (or resolves to) a fingerprint string, or null/undefined for "no decision".
 *
 * The module runs in a `node:worker_threads` Worker, never in the node's thread, so a runaway script
 * cannot block the node: the worker has a heap limit, and each call a time limit counted from the moment
 * it is posted to the worker. Protocol between this module and the worker's bootstrap:
 *   worker -> parent, once loaded:  {id: 0, ok: true}  or  {id: 0, ok: false, error}
 *   parent -> worker, per call:     {id, votes}         votes: [{log, logId, weight, fingerprints, forked}]
 *   worker -> parent, per call:     {id, ok: true, value: string | null, type}  or  {id, ok: false, error}
 * Calls are posted one at a time, in order. When a call times out the worker is terminated; a worker that
 * dies (process.exit, out of memory) fails its call; either way the next call starts a fresh worker.
 * Outcomes that decide nothing, with their reason:
 *   a timeout                          "script timed out after N ms"
 *   a throw or a rejection             "script failed: <message>"   (also logged with log.error)
 *   a dead worker                      "script worker died: <why>"
 *   null or undefined                  "script made no decision"
 *   not a string, or a string no non-abstaining log voted for
 *                                      "script returned a value no log voted for"
 *   close() with calls pending         "decider closed"
 */
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { logger } from '@libp2p/logger';
import { OutOfRangeError, TrustixError } from '../../protocol/errors.ts';
import { checkPermissions } from '../store/file-permissions.ts';
import type { Decider, DeciderOutcome, DeciderSpec, LogVote } from './decider.ts';

const log = logger('trustix:decider');

export interface ScriptDeciderInit {
  /** Per-call time limit. Default 1000 ms. */
  readonly timeoutMs?: number;
  /** Worker heap limit in MiB. Default 64. */
  readonly maxHeapMb?: number;
  /** Directory a relative module path is resolved against. Default process.cwd(). */
  readonly baseDir?: string;
}

/** Thrown by start() when the module cannot be loaded or exports no function `decide`. */
export class DeciderScriptError extends TrustixError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_DECIDER_SCRIPT', message, options);
  }
}

const DEFAULT_TIMEOUT_MS = 1000;
const DEFAULT_HEAP_MB = 64;
/** Loading a module may legitimately take longer than one call (a cold disk): it gets its own limit. */
const LOAD_TIMEOUT_MS = 10_000;

// CommonJS, evaluated as is: the worker needs no TypeScript loader, and `import()` takes .mjs and .js.
const BOOTSTRAP = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { pathToFileURL } = require('node:url');
const describe = (e) => { try { return e instanceof Error ? e.message : String(e); } catch { return 'unprintable error'; } };
import(pathToFileURL(workerData.modulePath).href).then(
  (m) => {
    const decide = m.decide;
    if (typeof decide !== 'function') {
      parentPort.postMessage({ id: 0, ok: false, error: 'the module exports no function \`decide\`' });
      return;
    }
    parentPort.on('message', (msg) => {
      new Promise((resolve) => resolve(decide(msg.votes))).then(
        (value) => parentPort.postMessage({
          id: msg.id, ok: true, value: typeof value === 'string' ? value : null,
          type: value === null ? 'null' : typeof value,
        }),
        (e) => parentPort.postMessage({ id: msg.id, ok: false, error: describe(e) }),
      );
    });
    parentPort.postMessage({ id: 0, ok: true });
  },
  (e) => parentPort.postMessage({ id: 0, ok: false, error: describe(e) }),
);
`;

type Answer =
  | { readonly kind: 'value'; readonly value: string | null; readonly type: string }
  | { readonly kind: 'error'; readonly error: string }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'gone'; readonly why: string };

function describe(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'unprintable error';
  }
}

/** One worker with the module loaded; at most one call in flight. */
class ScriptWorker {
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  readonly #onGone: (w: ScriptWorker) => void;
  #gone: string | undefined;
  #loaded: ((error?: string) => void) | undefined;
  #pending: { readonly id: number; readonly answer: (a: Answer) => void } | undefined;
  #nextId = 1;

  constructor(modulePath: string, maxHeapMb: number, onGone: (w: ScriptWorker) => void) {
    this.#onGone = onGone;
    this.#worker = new Worker(BOOTSTRAP, {
      eval: true,
      execArgv: [], // not the parent's `--import tsx`: the script is plain JavaScript
      workerData: { modulePath },
      resourceLimits: { maxOldGenerationSizeMb: maxHeapMb },
      stdout: true,
      stderr: true,
    });
    // An idle worker must not keep the process alive; pending calls hold their own timers.
    this.#worker.unref();
    // The script's console output goes to the debug log, never to the node's stdout/stderr.
    for (const stream of [this.#worker.stdout, this.#worker.stderr])
      stream.on('data', (chunk: Buffer) =>
        log('script %s: %s', modulePath, chunk.toString('utf8').trimEnd()),
      );
    this.ready = new Promise<void>((resolveReady, rejectReady) => {
      const timer = setTimeout(
        () => this.#terminate(`loading timed out after ${LOAD_TIMEOUT_MS} ms`),
        LOAD_TIMEOUT_MS,
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
    const { id, ok, value, type, error } = m as { [key: string]: unknown };
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
    else pending.answer({ kind: 'error', error: typeof error === 'string' ? error : 'unknown error' });
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

  /** Posts one call; answers once, with the reply, a timeout (the worker is then terminated) or its death. */
  request(votes: readonly object[], timeoutMs: number): Promise<Answer> {
    if (this.#gone !== undefined) return Promise.resolve({ kind: 'gone', why: this.#gone });
    const id = this.#nextId++;
    return new Promise<Answer>((resolveAnswer) => {
      const timer = setTimeout(() => {
        this.#pending = undefined;
        resolveAnswer({ kind: 'timeout' });
        void this.#terminate('timed out');
      }, timeoutMs);
      this.#pending = {
        id,
        answer: (a) => {
          clearTimeout(timer);
          this.#pending = undefined;
          resolveAnswer(a);
        },
      };
      try {
        this.#worker.postMessage({ id, votes });
      } catch (error) {
        this.#pending.answer({ kind: 'error', error: describe(error) });
      }
    });
  }

  terminate(): Promise<void> {
    return this.#terminate('closed');
  }
}

interface Call {
  readonly votes: readonly LogVote[];
  readonly settle: (outcome: DeciderOutcome) => void;
}

/** Whether a non-abstaining log (not forked, one distinct fingerprint) voted for `value`. */
function votedFor(votes: readonly LogVote[], value: string): boolean {
  return votes.some(
    (v) => !v.forked && v.fingerprints.length > 0 && v.fingerprints.every((f) => f === value),
  );
}

export class ScriptDecider implements Decider {
  readonly spec: DeciderSpec;
  readonly #path: string;
  readonly #timeoutMs: number;
  readonly #maxHeapMb: number;
  readonly #queue: Call[] = [];
  #worker: ScriptWorker | undefined;
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

  #spawn(): ScriptWorker {
    this.#worker ??= new ScriptWorker(this.#path, this.#maxHeapMb, (w) => {
      if (this.#worker === w) this.#worker = undefined;
    });
    return this.#worker;
  }

  /** Spawns the worker and loads the module; DeciderScriptError when it cannot. */
  async start(): Promise<void> {
    if (this.#closed) throw new DeciderScriptError(`decider script ${this.#path}: the decider is closed`);
    // The node runs it: nobody else may be able to change it (docs/SECURITY.md).
    await checkPermissions(this.#path, { what: 'the decider script' });
    const worker = this.#spawn();
    try {
      await worker.ready;
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
    const worker = this.#spawn();
    try {
      await worker.ready;
    } catch (error) {
      log.error('decider script %s failed to load: %s', this.#path, describe(error));
      return { reason: `script failed to load: ${describe(error)}` };
    }
    if (this.#closed) return { reason: 'decider closed' };
    // Plain copies: exactly the documented fields, whatever the caller's objects carry.
    const plain = votes.map((v) => ({
      log: v.log,
      logId: v.logId,
      weight: v.weight,
      fingerprints: [...v.fingerprints],
      forked: v.forked,
    }));
    const answer = await worker.request(plain, this.#timeoutMs);
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
    if (worker !== undefined) await worker.terminate();
  }
}
