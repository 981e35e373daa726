// ComfyUI's own web front end (the PyPI package comfyui-frontend-package, which Gantry
// serves at /comfy/) in Debian's headless Chromium, signed in with HTTP Basic: it loads with
// no console error, queues a prompt on the fleet through its own code and shows the
// prompt's image, hears a slow prompt's progress and interrupts it with its own call, and
// sees nothing of another user's (their prompt is not in its history, their image is refused).
// Prints one JSON line. Usage:
//   node comfyui-frontend.mjs <gantry base url> <user> <password> <plan> [screenshot path]
// where <plan> is JSON: {"slow": <a prompt that runs for seconds>, "foreign": {"prompt": <id>, "view": <path>}}.
import { chromium } from 'playwright-core';
import { startOutcome } from './outcome.mjs';

const [base, username, password, planJson, screenshot] = process.argv.slice(2);
const plan = JSON.parse(planJson);
// A real ComfyUI's hundreds of node classes take the page a while to set up on a small machine.
const { outcome, finish } = startOutcome({ base }, 300_000);
/** A model-free prompt: a 64² image, inverted, saved. */
const PROMPT = {
  1: { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0x336699 } },
  2: { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  3: { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'frontend' } },
};
// The other user's image, fetched on purpose: its refusal is expected, not an error.
const foreignView = new URL(plan.foreign.view, base).pathname;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let page;
try {
  const context = await browser.newContext({ httpCredentials: { username, password }, viewport: { width: 1280, height: 800 } });
  // This machine has no internet: what the front end asks of other hosts (comfy.org's
  // release notes) gets an empty answer instead of a network error.
  const own = new URL(base).host;
  await context.route((url) => url.host !== own, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: '[]' }));
  page = await context.newPage();
  outcome.frames = [];
  page.on('pageerror', (error) => outcome.errors.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    const from = message.location()?.url;
    if (message.type() === 'error' && !(from && new URL(from).pathname === foreignView)) {
      outcome.errors.push(`console error: ${message.text()}`);
    }
  });
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (url.pathname.endsWith('/view')) outcome.frames.push(`view ${response.status()}`);
    if (response.status() >= 400 && url.pathname !== foreignView) {
      outcome.errors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
    }
  });
  // What the socket said, in order (no progress), and the page's image loads: what happened
  // when a step fails.
  page.on('websocket', (socket) => {
    socket.on('framereceived', ({ payload }) => {
      if (typeof payload !== 'string') return outcome.frames.push('preview');
      const { type, data } = JSON.parse(payload);
      if (type === 'progress' || type === 'progress_state') return;
      outcome.frames.push([type, data?.node, data?.prompt_id?.slice(0, 8)].filter((x) => x != null).join(':'));
    });
    socket.on('close', () => outcome.frames.push('closed'));
  });

  await page.goto(`${base}/comfy/`);
  await page.waitForFunction(() => window.app?.graph && window.app.api?.socket?.readyState === 1 && window.app.api.clientId, null, { timeout: 90_000 });
  outcome.connected = true;
  outcome.nodeClasses = await page.evaluate(() => Object.keys(window.LiteGraph?.registered_node_types ?? {}).length);
  // Every start, progress tick and end of a prompt the page hears, by prompt id.
  await page.evaluate(() => {
    window.gantryEnds = {};
    window.gantryStarts = [];
    window.gantryTicks = {};
    window.app.api.addEventListener('execution_start', ({ detail }) => window.gantryStarts.push(detail.prompt_id));
    window.app.api.addEventListener('progress', ({ detail }) => {
      window.gantryTicks[detail.prompt_id] = (window.gantryTicks[detail.prompt_id] ?? 0) + 1;
    });
    for (const type of ['execution_success', 'execution_error', 'execution_interrupted']) {
      window.app.api.addEventListener(type, ({ detail }) => (window.gantryEnds[detail.prompt_id] = type));
    }
  });

  // A new user's first load ends by opening a blank workflow and offering templates: the
  // offer is waited for (a graph loaded earlier would be replaced), then closed, as a person would.
  const dialog = page.locator('.global-dialog');
  await dialog.waitFor({ state: 'visible', timeout: 90_000 });
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  // The prompt, loaded and queued by the front end's own code.
  const queued = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/prompt'));
  await page.evaluate(async (prompt) => {
    window.app.loadApiJson(prompt, 'gantry.json');
    await window.app.queuePrompt(0, 1);
  }, PROMPT);
  const { prompt_id: first } = await (await queued).json();
  await page.waitForFunction((id) => window.gantryEnds[id], first, { timeout: 60_000 });
  // The saved image shows on its node, loaded from the virtual ComfyUI's /view.
  const image = await page.waitForFunction(
    () => {
      const img = window.app.graph.nodes.find((n) => n.type === 'SaveImage')?.imgs?.[0];
      return img?.complete && img.naturalWidth > 0 ? { src: img.src, width: img.naturalWidth } : null;
    },
    null,
    { timeout: 60_000 },
  );
  outcome.results.push({ prompt: first, end: await page.evaluate((id) => window.gantryEnds[id], first), ...(await image.jsonValue()) });
  if (screenshot) await page.screenshot({ path: screenshot });

  // A slow prompt, interrupted by the front end's own call once its progress shows and its
  // queue lists it running.
  const slowQueued = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/prompt'));
  await page.evaluate(async (prompt) => {
    window.app.loadApiJson(prompt, 'slow.json');
    await window.app.queuePrompt(0, 1);
  }, plan.slow);
  const { prompt_id: slow } = await (await slowQueued).json();
  await page.waitForFunction((id) => window.gantryTicks[id] > 0, slow, { timeout: 60_000 });
  await page.waitForFunction((id) => window.app.api.getQueue().then((q) => q.Running.some((p) => p.prompt[1] === id)), slow, {
    timeout: 60_000,
    polling: 250,
  });
  await page.evaluate((id) => window.app.api.interrupt(id), slow);
  await page.waitForFunction((id) => window.gantryEnds[id], slow, { timeout: 60_000 });
  outcome.results.push({ prompt: slow, ...(await page.evaluate((id) => ({ end: window.gantryEnds[id], ticks: window.gantryTicks[id] }), slow)) });

  // What the front end's own history call lists, and the other user's image.
  outcome.history = await page.evaluate(async () => (await window.app.api.getHistory()).History.map((h) => h.prompt[1]));
  outcome.started = await page.evaluate(() => window.gantryStarts);
  outcome.foreignView = await page.evaluate(async (path) => (await fetch(path)).status, plan.foreign.view);
} catch (error) {
  outcome.errors.push(String(error?.stack ?? error));
  // What the page held when it failed: the graph's node types and the outputs it was told of.
  outcome.state = await page
    ?.evaluate(() => ({ nodes: window.app.graph.nodes.map((n) => n.type), outputs: window.app.nodeOutputs }))
    .catch((e) => String(e));
}
await browser.close();
finish(outcome.errors.length === 0 ? 0 : 1);
