// The page built from the inline entry (esbuild, Rollup: they do not copy the .wasm files).
import { init, verifyToken } from 'campaign-token/inline';
import { run } from './page.js';

run({ init, verifyToken });
