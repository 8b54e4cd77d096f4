// The page built from the package's main entry (Vite, webpack: they copy the .wasm files).
import { init, verifyToken } from 'campaign-token';
import { run } from './page.js';

run({ init, verifyToken });
