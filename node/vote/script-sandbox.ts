/**
 * The sandbox a decider script runs in: QuickJS compiled to WebAssembly (quickjs-emscripten), driven by
 * trusted glue evaluated inside a `node:worker_threads` Worker (script-worker.ts starts it). Its own
 * module because this is the code on the far side of the worker boundary: plain CommonJS text, not part
 * of the node's module graph, and the one place that decides what the untrusted script can reach.
 *
 * The sandbox has the JavaScript language and its built-in objects (JSON, Math, Date, Map, Promise,
 * RegExp, typed arrays) and nothing else: no `import` (every module name fails to load), no `require`,
 * `process`, `fetch`, timers or console, no file, network or program access. QuickJS enforces a memory
 * limit (maxHeapMb) and interrupts a call at its time limit.
 */
import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);
/** Absolute paths: the worker's `require` would resolve bare names against the process's cwd. */
export const QUICKJS = {
  core: requireHere.resolve('quickjs-emscripten-core'),
  variant: requireHere.resolve('@jitl/quickjs-wasmfile-release-sync'),
};

// CommonJS, evaluated as is by the worker: trusted glue that runs the script inside QuickJS.
export const BOOTSTRAP = `'use strict';
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
