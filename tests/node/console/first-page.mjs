// Benchmark (not a test): what the console's first page costs. Prints the JS + CSS the
// sign-in page loads (bytes on the wire, gzipped, and unpacked), and the time from
// navigation to a usable page (the sign-in form ready for input) in a fresh Chromium
// context, p50/p90 over ROUNDS loads, beside the same browser's floor on this machine:
// navigating to the server's tiny /api/health document.
// Env: GANTRY_URL, ROUNDS (default 20), CHROMIUM.
import { chromium } from 'playwright-core';

const base = process.env.GANTRY_URL ?? 'http://127.0.0.1:3000';
const rounds = Number(process.env.ROUNDS ?? 20);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

async function load(path, ready) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const assets = [];
  page.on('response', async (response) => {
    const type = response.headers()['content-type'] ?? '';
    if (/javascript|css/.test(type)) {
      const wire = Number((await response.allHeaders())['content-length'] ?? 0);
      const body = await response.body().catch(() => Buffer.alloc(0));
      assets.push({ url: response.url(), wire, size: body.length, gzip: response.headers()['content-encoding'] === 'gzip' });
    }
  });
  const started = performance.now();
  await page.goto(base + path, { waitUntil: 'commit' });
  await ready(page);
  const elapsed = performance.now() - started;
  await context.close();
  return { elapsed, assets };
}

const quantile = (values, q) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))];
const floor = [];
const usable = [];
let assets = [];
for (let i = 0; i < rounds; i += 1) {
  floor.push((await load('/api/health', (page) => page.locator('body').waitFor())).elapsed);
  const run = await load('/', (page) => page.locator('input[name="username"]:enabled').waitFor());
  usable.push(run.elapsed);
  assets = run.assets;
}
await browser.close();

const wire = assets.reduce((sum, a) => sum + a.wire, 0);
const size = assets.reduce((sum, a) => sum + a.size, 0);
console.log(`first page JS + CSS: ${assets.length} files, ${(wire / 1024).toFixed(1)} KiB on the wire (gzip: ${assets.every((a) => a.gzip)}), ${(size / 1024).toFixed(1)} KiB unpacked (goal ≤ 250 KB gzipped)`);
for (const a of assets) console.log(`  ${new URL(a.url).pathname}: ${(a.wire / 1024).toFixed(1)} KiB gzipped, ${(a.size / 1024).toFixed(1)} KiB`);
const p = (values) => `p50 ${quantile(values, 0.5).toFixed(0)} ms, p90 ${quantile(values, 0.9).toFixed(0)} ms`;
console.log(`time to a usable sign-in page: ${p(usable)} (goal ≤ 1000 ms)`);
console.log(`floor (/api/health in the same browser): ${p(floor)}; ratio p50 ${(quantile(usable, 0.5) / quantile(floor, 0.5)).toFixed(2)}×`);
