/**
 * node/'s door for clients of a running node: the data directory's paths and keys, the control socket's
 * client, the errors it answers with, the version. It loads neither libp2p nor LevelDB, so the CLI's client
 * commands start fast (test/cli-main.test.ts checks what they load). Everything else is behind node/index.ts.
 */
import './runtime/promise-with-resolvers.ts';

export { ConfigError, NodeUnavailableError, StoreCorruptError, StoreLockedError } from './errors.ts';
export { ISOLATED_ADVICE } from './network/reachability.ts';
export { writePostBuildHook } from './own-log/post-build-hook.ts';
export { VERSION } from './runtime/version.ts';
export { defaultDataDir, request, SubmitError, socketPath, submit } from './socket/submit-client.js';
export { reproducibilityLine } from './stats/repro-rate.ts';
export { dataDir, initDataDir, loadKeys } from './store/data-dir.ts';
export { parseWeight } from './store/log-weight.ts';
