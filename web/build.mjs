// Builds the console into OUTDIR (default: dist): hashed, minified ES modules split per
// page (noVNC and the API browser load only on their pages), one stylesheet, index.html,
// the offline API browser (swagger-ui-dist) at docs/, and a .gz beside every text asset.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outdir = args.includes('--outdir') ? args[args.indexOf('--outdir') + 1] : join(root, 'dist');

await rm(outdir, { recursive: true, force: true });
await mkdir(join(outdir, 'assets'), { recursive: true });

// noVNC 1.6.0's CommonJS build keeps one top-level `await` (its H.264 probe), which makes
// esbuild treat the file as ESM and leaves `exports` undefined in the browser; its probe
// also never closes the decoded frame (Chromium warns about the leak on every page load).
// Both are patched at bundle time: the probe resolves in the background instead.
const novncFix = {
  name: 'novnc-browser-probe',
  setup(build) {
    build.onLoad({ filter: /@novnc[\\/]novnc[\\/]lib[\\/]util[\\/]browser\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const probe = 'exports.supportsWebCodecsH264Decode = supportsWebCodecsH264Decode = await _checkWebCodecsH264DecodeSupport();';
      const close = 'gotframe = true;';
      if (!source.includes(probe) || !source.includes(close)) {
        throw new Error('noVNC changed: review the novnc-browser-probe patch in build.mjs');
      }
      const contents = source
        .replace(probe, '_checkWebCodecsH264DecodeSupport().then((s) => { exports.supportsWebCodecsH264Decode = supportsWebCodecsH264Decode = s; });')
        .replace(close, 'gotframe = true; frame.close();');
      return { contents, loader: 'js' };
    });
  },
};

const result = await esbuild.build({
  entryPoints: { main: join(root, 'src/main.tsx') },
  bundle: true,
  splitting: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  metafile: true,
  outdir: join(outdir, 'assets'),
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
  loader: { '.svg': 'file', '.png': 'file' },
  plugins: [novncFix],
});

// Lazily loaded pages are entry points too in the metafile: pick the console's own.
const mainJs = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint?.endsWith('src/main.tsx'))?.[0];
const mainCss = result.metafile.outputs[mainJs].cssBundle;
const publicPath = (p) => '/assets/' + p.split('/assets/')[1];

const template = await readFile(join(root, 'index.html'), 'utf8');
await writeFile(
  join(outdir, 'index.html'),
  template
    .replace('<!--css-->', mainCss ? `<link rel="stylesheet" href="${publicPath(mainCss)}">` : '')
    .replace('<!--js-->', `<script type="module" src="${publicPath(mainJs)}"></script>`),
);

// The API browser: swagger-ui-dist's own bundle, served as-is, with a tiny initializer.
const swagger = join(root, 'node_modules/swagger-ui-dist');
await mkdir(join(outdir, 'docs'), { recursive: true });
for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png']) {
  await copyFile(join(swagger, file), join(outdir, 'docs', file));
}
await copyFile(join(root, 'src/docs/index.html'), join(outdir, 'docs/index.html'));
await copyFile(join(root, 'src/docs/init.js'), join(outdir, 'docs/init.js'));

// Precompressed copies: the server sends them to clients that accept gzip.
async function* walk(dir) {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    if ((await stat(path)).isDirectory()) yield* walk(path);
    else yield path;
  }
}
for await (const path of walk(outdir)) {
  if (/\.(js|css|html|svg|json)$/.test(path)) {
    await writeFile(path + '.gz', gzipSync(await readFile(path), { level: 9 }));
  }
}
const digest = createHash('sha256').update(await readFile(join(outdir, 'index.html'))).digest('hex').slice(0, 12);
console.log(`console built into ${outdir} (${digest})`);
