// Bundles and minifies the jose equivalent page script with esbuild (the size compared
// against our module), with its config kept external, as our demo page loads its config.
import * as esbuild from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
export async function buildJosePage(outfile) {
  await esbuild.build({
    entryPoints: [path.join(here, 'jose-page/main.js')],
    bundle: true, minify: true, format: 'esm', target: 'es2022', platform: 'browser',
    external: ['./config.js'], outfile, legalComments: 'none', logLevel: 'warning',
  });
}
if (import.meta.url === `file://${process.argv[1]}`) await buildJosePage(process.argv[2] ?? path.join(here, '.work/jose-page/main.js'));
