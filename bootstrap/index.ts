export { DEFAULT_BOOTSTRAP_PEERS } from './peers.ts';
