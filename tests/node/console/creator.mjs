// Journey: a creator makes an image in the studio. They sign in, open the studio, see the
// text-to-image form prefilled from the server's defaults and its cost follow the batch size
// (the server's price: base + perUnit × images), generate, watch the task until its image
// shows (a real, loaded image), find it in the gallery, and see it completed in their tasks.
// Env: GANTRY_URL, GANTRY_USER / GANTRY_PASSWORD (a non-admin user holding credits for at
// least two text-to-image images at the server's price), GANTRY_SCREENSHOTS.
import { run } from './browser.mjs';

/** Waits until `locator`'s image has loaded real pixels. */
async function loaded(page, locator) {
  await locator.waitFor();
  await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await locator.elementHandle(), { timeout: 30_000 });
}

await run('creator', async ({ page, signIn, screenshot }) => {
  await signIn();
  await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Studio' }).click();
  await page.getByRole('heading', { name: 'Studio' }).waitFor();

  const form = page.getByTestId('generate-form');
  await page.getByTestId('generator-TEXT2IMG').click();
  await form.waitFor();
  const catalogue = await page.evaluate(async () => {
    const token = localStorage.getItem('gantry.token');
    const answer = await fetch('/api/v1/models', { headers: { Authorization: `Bearer ${token}` } });
    return (await answer.json()).data;
  });
  const offer = catalogue.generators.find((g) => g.type === 'TEXT2IMG');
  if ((await form.getByLabel('Width').inputValue()) !== String(offer.defaults.width)) throw new Error('the width is not the server default');

  // The cost shown is the server's price for the batch.
  const cost = () => form.getByTestId('cost').getAttribute('data-cost');
  await form.getByLabel('Images').fill('2');
  await page.waitForFunction((want) => document.querySelector('[data-testid="cost"]')?.getAttribute('data-cost') === want, String(offer.price.base + 2 * offer.price.perUnit));
  await form.getByLabel('Images').fill('1');
  if ((await cost()) !== String(offer.price.base + offer.price.perUnit)) throw new Error(`cost ${await cost()} is not the server's price`);

  await form.getByLabel('Prompt', { exact: true }).fill('a lighthouse at dusk, watercolour');
  await form.getByLabel('Width').fill('512');
  await form.getByLabel('Height').fill('512');
  await page.getByTestId('generate').click();

  const task = page.getByTestId('tracked-task').first();
  await task.waitFor();
  const taskId = await task.getAttribute('data-task-id');
  await loaded(page, task.getByTestId('result').locator('img').first());
  await task.locator('[data-status="COMPLETED"]').waitFor();
  await screenshot('studio-generate');

  await page.getByTestId('studio-gallery').click();
  const item = page.getByTestId('gallery').locator('.studio-gallery-item').filter({ has: page.locator(`a[href="/studio/tasks/${taskId}"]`) });
  await loaded(page, item.locator('img').first());
  await item.getByTestId('download').first().waitFor();
  await screenshot('studio-gallery');

  await page.getByTestId('studio-tasks').click();
  const row = page.locator(`[data-testid="task-row"][data-task-id="${taskId}"]`);
  await row.locator('[data-status="COMPLETED"]').waitFor();
  await row.getByTestId('retry').waitFor();
  await screenshot('studio-tasks');

  // A personal API token for a script: shown once, works as a bearer token, listed, revoked.
  await page.getByRole('link', { name: 'Profile' }).click();
  await page.getByRole('heading', { name: 'API tokens' }).waitFor();
  await page.getByLabel('What it is for').fill('render script');
  await page.getByRole('button', { name: 'Make a token' }).click();
  const secret = await page.getByTestId('new-token').innerText();
  const asScript = (token) =>
    page.evaluate(async (t) => (await fetch('/api/v1/users/profile', { headers: { Authorization: `Bearer ${t}` } })).status, token);
  if ((await asScript(secret)) !== 200) throw new Error('the new token does not work');
  const listed = page.getByRole('row').filter({ hasText: 'render script' });
  await listed.waitFor();
  await screenshot('profile-tokens');
  await listed.getByRole('button', { name: 'Revoke' }).click();
  await listed.waitFor({ state: 'detached' });
  if ((await asScript(secret)) !== 401) throw new Error('a revoked token still works');
});
