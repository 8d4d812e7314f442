export * from './constants.ts';
export * from './ed25519.ts';
export * from './errors.ts';
