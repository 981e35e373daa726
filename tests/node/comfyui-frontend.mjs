// ComfyUI's own web front end (the PyPI package comfyui-frontend-package, which Gantry
// serves at /comfy/) in Debian's headless Chromium, signed in with HTTP Basic: it loads with
// no console error, queues a prompt on the fleet through its own code, and shows the
// prompt's image. Prints one JSON line. Usage:
//   node comfyui-frontend.mjs <gantry base url> <user> <password> [screenshot path]
import { chromium } from 'playwright-core';
import { startOutcome } from './outcome.mjs';

const [base, username, password, screenshot] = process.argv.slice(2);
// A real ComfyUI's hundreds of node classes take the page a while to set up on a small machine.
const { outcome, finish } = startOutcome({ base }, 240_000);
/** A model-free prompt: a 64² image, inverted, saved. */
const PROMPT = {
  1: { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0x336699 } },
  2: { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  3: { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'frontend' } },
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ httpCredentials: { username, password }, viewport: { width: 1280, height: 800 } });
  // This machine has no internet: what the front end asks of other hosts (comfy.org's
  // release notes) gets an empty answer instead of a network error.
  const own = new URL(base).host;
  await context.route((url) => url.host !== own, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: '[]' }));
  const page = await context.newPage();
  page.on('pageerror', (error) => outcome.errors.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') outcome.errors.push(`console error: ${message.text()}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) outcome.errors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
  });

  await page.goto(`${base}/comfy/`);
  await page.waitForFunction(() => window.app?.graph && window.app.api?.socket?.readyState === 1, null, { timeout: 60_000 });
  outcome.connected = true;
  outcome.nodeClasses = await page.evaluate(() => Object.keys(window.LiteGraph?.registered_node_types ?? {}).length);

  // A new user is first offered workflow templates: closed, as a person would.
  const dialog = page.locator('.global-dialog');
  if (await dialog.isVisible()) {
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
  }
  // The prompt, loaded and queued by the front end's own code.
  await page.evaluate(async (prompt) => {
    window.app.loadApiJson(prompt, 'gantry.json');
    await window.app.queuePrompt(0, 1);
  }, PROMPT);
  // The saved image shows on its node, loaded from the virtual ComfyUI's /view.
  const image = await page.waitForFunction(
    () => {
      const img = window.app.graph.nodes.find((n) => n.type === 'SaveImage')?.imgs?.[0];
      return img?.complete && img.naturalWidth > 0 ? { src: img.src, width: img.naturalWidth } : null;
    },
    null,
    { timeout: 60_000 },
  );
  outcome.results.push(await image.jsonValue());
  outcome.history = await page.evaluate(async () => Object.keys(await (await window.app.api.fetchApi('/history')).json()));
  if (screenshot) await page.screenshot({ path: screenshot });
} catch (error) {
  outcome.errors.push(String(error?.stack ?? error));
}
await browser.close();
finish(outcome.errors.length === 0 ? 0 : 1);
