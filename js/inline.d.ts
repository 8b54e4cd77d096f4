// campaign-token/inline: the main entry's API, with the wasm modules inlined (for esbuild,
// Rollup and other bundlers that do not copy the .wasm file). See docs/browser.md#bundlers.
export * from './index.js';
