// Shared by the console's browser journeys: Debian's Chromium driven by playwright-core,
// a sign-in, screenshots, and the rule every journey keeps — no uncaught error, no console
// error, no failed or 4xx/5xx load of a console asset.
//
// Environment: GANTRY_URL (the server), GANTRY_USER / GANTRY_PASSWORD (who signs in),
// GANTRY_SCREENSHOTS (a folder for the pages' screenshots; none when unset), CHROMIUM
// (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const base = process.env.GANTRY_URL ?? 'http://127.0.0.1:3000';

/** Starts Chromium with one page at 1280×800 (or `viewport`), in `locale`. */
export async function open({ locale = 'en-GB', viewport = { width: 1280, height: 800 } } = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ locale, viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const problems = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    // A refused API call is an answer the page shows; the response check below covers assets.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  const isAsset = (url) => {
    const path = new URL(url).pathname;
    return !path.startsWith('/api/') && !path.startsWith('/ws') && !path.startsWith('/console/ws');
  };
  page.on('requestfailed', (request) => {
    const reason = request.failure()?.errorText ?? '';
    // Navigations away abort what the old page was still loading.
    if (isAsset(request.url()) && reason !== 'net::ERR_ABORTED') problems.push(`failed load: ${request.url()} ${reason}`);
  });
  page.on('response', (response) => {
    if (isAsset(response.url()) && response.status() >= 400) problems.push(`asset ${response.status()}: ${response.url()}`);
  });
  const journey = {
    browser,
    page,
    problems,
    /** Signs in through the form and waits for the first page after it. */
    async signIn(user = process.env.GANTRY_USER ?? 'admin', password = process.env.GANTRY_PASSWORD ?? '') {
      await page.goto(base + '/');
      await page.locator('input[name="username"]').fill(user);
      await page.locator('input[name="password"]').fill(password);
      await page.locator('form button[type="submit"]').click();
      await page.locator('header.top').waitFor();
    },
    /** Saves a screenshot as `<name>.png` in GANTRY_SCREENSHOTS. */
    async screenshot(name) {
      const dir = process.env.GANTRY_SCREENSHOTS;
      if (!dir) return;
      mkdirSync(dir, { recursive: true });
      await page.screenshot({ path: join(dir, `${name}.png`) });
    },
    /** Closes the browser; throws when the page had any problem. */
    async finish() {
      await browser.close();
      if (problems.length) throw new Error(`the console had problems:\n${problems.join('\n')}`);
    },
  };
  return journey;
}

/** Runs a journey: exit code 0 when it passes, 1 with the reason otherwise. */
export async function run(name, steps, options = {}) {
  let journey;
  try {
    journey = await open(options);
    await steps(journey);
    await journey.finish();
    console.log(`journey ${name}: passed`);
  } catch (error) {
    console.error(`journey ${name}: ${error?.stack ?? error}`);
    if (journey) {
      await journey.page.screenshot({ path: `/tmp/gantry-journey-${name}-failure.png` }).catch(() => undefined);
      await journey.browser.close().catch(() => undefined);
    }
    process.exit(1);
  }
}
