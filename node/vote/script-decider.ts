/**
 * The `script` decider (docs/CLI.md, the deciders): a user ES module (.mjs/.js) exporting
 * `decide(votes)`, which returns (or resolves to) a fingerprint string, or null/undefined for "no decision".
 *
 * The script is untrusted code (docs/SECURITY.md "Script deciders"). It runs in QuickJS compiled to
 * WebAssembly (quickjs-emscripten), inside a `node:worker_threads` Worker so that even a busy script
 * never blocks the node's thread. The sandbox has the JavaScript language and its built-in objects
 * (JSON, Math, Date, Map, Promise, RegExp, typed arrays) and nothing else: no `import` (every module
 * name fails to load), no `require`, `process`, `fetch`, timers or console, no file, network or
 * program access. The node reads the module's source itself (at most 1 MiB) and hands it over as text;
 * the votes go in as JSON and only a string (or null/undefined) comes out. QuickJS enforces a memory
 * limit (maxHeapMb) and interrupts a call at its time limit; a parent-side timer terminates the worker
 * as a backstop. Protocol between this module and the worker's bootstrap:
 *   worker -> parent, once loaded:  {id: 0, ok: true}  or  {id: 0, ok: false, error}
 *   parent -> worker, per call:     {id, votes, timeoutMs}   votes: [{log, logId, weight, fingerprints, forked}]
 *   worker -> parent, per call:     {id, ok: true, value: string | null, type}
 *                                or {id, ok: false, error, timedOut?, fatal?}
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
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { logger } from '@libp2p/logger';
import { OutOfRangeError, TrustixError } from '../../protocol/errors.ts';
import { checkPermissions } from '../store/file-permissions.ts';
import type { Decider, DeciderOutcome, DeciderSpec, LogVote } from './decider-spec.ts';

const log = logger('trustix:decider');

export interface ScriptDeciderInit {
  /** Per-call time limit. Default 1000 ms. */
  readonly timeoutMs?: number;
  /** The script's memory limit in MiB (QuickJS's allocator). Default 64. */
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
/** Evaluating a module may legitimately take longer than one call: it gets its own limit in the sandbox. */
const LOAD_TIMEOUT_MS = 10_000;
/**
 * Starting a worker and compiling QuickJS (about 0.1 s when idle) is the node's cost, not the script's,
 * and takes seconds on a loaded machine: the parent waits this long for a sandbox to be ready.
 */
const START_TIMEOUT_MS = 30_000;
/** The parent's backstop beyond a call's time limit, should QuickJS not come back to its interrupt check. */
const BACKSTOP_MS = 2000;
const MAX_SOURCE_BYTES = 1024 * 1024;
/** The V8 heap of the worker's own glue code (the script's memory is QuickJS's, in WebAssembly memory). */
const GLUE_HEAP_MB = 64;

const requireHere = createRequire(import.meta.url);
/** Absolute paths: the worker's `require` would resolve bare names against the process's cwd. */
const QUICKJS = {
  core: requireHere.resolve('quickjs-emscripten-core'),
  variant: requireHere.resolve('@jitl/quickjs-wasmfile-release-sync'),
};

// CommonJS, evaluated as is by the worker: trusted glue that runs the script inside QuickJS.
const BOOTSTRAP = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { newQuickJSWASMModuleFromVariant } = require(workerData.core);
const variant = require(workerData.variant).default;
const describe = (e) => { try { return e instanceof Error ? e.message : String(e); } catch { return 'unprintable error'; } };
let deadline = 0;
let rt, vm;
const messageOf = (handle) => {
  let e;
  try { e = vm.dump(handle); } catch (err) { e = describe(err); }
  if (handle.alive) handle.dispose();
  return e !== null && typeof e === 'object' && typeof e.message === 'string' ? e.message : String(e);
};
/** A failure of the script, as sent: interrupted at its deadline, or out of memory (fatal). */
const failure = (id, error) => ({
  id, ok: false, error,
  timedOut: error === 'interrupted' && Date.now() >= deadline,
  fatal: error === 'out of memory' || error === 'interrupted',
});
/** Runs pending jobs until \`handle\` (maybe a promise) settles: {value} or {error}. */
const settle = (handle) => {
  for (;;) {
    const state = vm.getPromiseState(handle);
    if (state.type === 'fulfilled') {
      if (!state.notAPromise) handle.dispose();
      return { value: state.value };
    }
    if (state.type === 'rejected') { handle.dispose(); return { error: messageOf(state.error) }; }
    if (!rt.hasPendingJob()) { handle.dispose(); return { error: 'its promise never settles (scripts have no timers or I/O)' }; }
    const jobs = rt.executePendingJobs();
    if (jobs.error) { handle.dispose(); return { error: messageOf(jobs.error) }; }
  }
};
newQuickJSWASMModuleFromVariant(variant).then((quickjs) => {
  rt = quickjs.newRuntime();
  rt.setMemoryLimit(workerData.memoryBytes);
  rt.setMaxStackSize(1024 * 1024);
  rt.setInterruptHandler(() => Date.now() >= deadline);
  vm = rt.newContext();
  deadline = Date.now() + workerData.loadTimeoutMs;
  const evaluated = vm.evalCode(workerData.source, workerData.name, { type: 'module', strict: true });
  const loaded = evaluated.error ? { error: messageOf(evaluated.error) } : settle(evaluated.value);
  if (loaded.error !== undefined) return parentPort.postMessage({ id: 0, ok: false, error: loaded.error });
  const decide = vm.getProp(loaded.value, 'decide');
  loaded.value.dispose();
  if (vm.typeof(decide) !== 'function')
    return parentPort.postMessage({ id: 0, ok: false, error: 'the module exports no function \`decide\`' });
  const json = vm.getProp(vm.global, 'JSON');
  const parse = vm.getProp(json, 'parse');
  json.dispose();
  parentPort.on('message', (msg) => {
    deadline = Date.now() + msg.timeoutMs;
    const text = vm.newString(JSON.stringify(msg.votes));
    const votes = vm.callFunction(parse, vm.undefined, text);
    text.dispose();
    if (votes.error) return parentPort.postMessage(failure(msg.id, messageOf(votes.error)));
    const called = vm.callFunction(decide, vm.undefined, votes.value);
    votes.value.dispose();
    const result = called.error ? { error: messageOf(called.error) } : settle(called.value);
    if (result.error !== undefined) return parentPort.postMessage(failure(msg.id, result.error));
    const type = vm.typeof(result.value);
    const value = type === 'string' ? vm.getString(result.value) : null;
    const isNull = type === 'object' && vm.dump(result.value) === null;
    if (result.value.alive) result.value.dispose();
    parentPort.postMessage({ id: msg.id, ok: true, value, type: isNull ? 'null' : type });
  });
  parentPort.postMessage({ id: 0, ok: true });
}).catch((e) => parentPort.postMessage({ id: 0, ok: false, error: describe(e) }));
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

/** The module's source, read by the node (the sandbox has no file access); at most MAX_SOURCE_BYTES. */
async function readSource(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new DeciderScriptError(`Cannot find module '${path}'`);
    throw error;
  }
  if (bytes.length > MAX_SOURCE_BYTES) throw new DeciderScriptError(`larger than ${MAX_SOURCE_BYTES} bytes`);
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/** One worker with the module loaded in its sandbox; at most one call in flight. */
class ScriptWorker {
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
    if (worker !== undefined) await (await worker.catch(() => undefined))?.terminate();
  }
}
