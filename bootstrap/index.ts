export { DEFAULT_BOOTSTRAP_PEERS, defaultBootstrapPeers } from './peers.ts';
