export { type BootstrapNodeOptions, bootstrapNodeInit } from './bootstrap-node.ts';
export { DEFAULT_BOOTSTRAP_PEERS, defaultBootstrapPeers } from './peers.ts';
