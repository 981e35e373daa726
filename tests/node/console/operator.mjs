// Journey of an operator (an admin): the fleet dashboard shows both configured comfy-sim
// instances alive, a third server added through the form appears and goes alive, the
// tasks page lists a prompt queued through the virtual ComfyUI, and a user created on the
// users page gets 100 credits.
//
// Environment (besides browser.mjs's GANTRY_URL, GANTRY_USER, GANTRY_PASSWORD,
// GANTRY_SCREENSHOTS): the server runs with exactly two comfy-sim instances configured;
// GANTRY_NEW_SERVER is `host:port` of a third comfy-sim, not configured yet;
// GANTRY_COMFY_PROMPT is the id of a completed prompt queued at /comfy/prompt. The user
// `journey-user` must not exist yet. Screenshots: fleet-dashboard, fleet-tasks, fleet-users.
import { run } from './browser.mjs';

const newServer = process.env.GANTRY_NEW_SERVER;
if (!newServer || !/^.+:\d+$/.test(newServer)) {
  console.error('journey operator: set GANTRY_NEW_SERVER to host:port of a comfy-sim that is not configured');
  process.exit(1);
}
const [newHost, newPort] = [newServer.slice(0, newServer.lastIndexOf(':')), newServer.slice(newServer.lastIndexOf(':') + 1)];

/** Waits until exactly `n` instance rows are shown and every one of them is alive. */
async function allAlive(page, n) {
  await page.waitForFunction(
    (n) => {
      const rows = document.querySelectorAll('[data-testid="instance-row"]');
      const alive = document.querySelectorAll('[data-testid="instance-row"] [data-testid="instance-alive"][data-state="alive"]');
      return rows.length === n && alive.length === n;
    },
    n,
    { timeout: 60_000 },
  );
}

run('operator', async ({ page, signIn, screenshot }) => {
  await signIn();

  // The dashboard: both configured instances alive.
  await page.locator('header.top nav a[href="/fleet"]').click();
  await page.locator('[data-testid="fleet-overview"]').waitFor();
  await allAlive(page, 2);

  // A third server, added through the form, shows up and goes alive without a reload.
  const form = page.locator('[data-testid="server-add-form"]');
  await form.locator('input[name="name"]').fill('journey-sim');
  await form.locator('input[name="ip"]').fill(newHost);
  await form.locator('input[name="ports"]').fill(newPort);
  await form.locator('button[type="submit"]').click();
  await page.locator('[data-testid="server-row"]', { hasText: 'journey-sim' }).waitFor();
  await page.locator(`[data-testid="instance-row"][data-instance="${newServer}"] [data-testid="instance-alive"][data-state="alive"]`).waitFor({ timeout: 60_000 });
  await allAlive(page, 3);
  const aliveCount = await page.locator('[data-testid="alive-count"]').innerText();
  if (!/^3\s*\/\s*3$/.test(aliveCount.trim())) throw new Error(`the overview says ${aliveCount} instances alive, not 3 / 3`);
  await page.locator('[data-testid="instances"]').scrollIntoViewIfNeeded();
  await screenshot('fleet-dashboard');

  // Everyone's tasks.
  await page.locator('header.top nav a[href="/tasks"]').click();
  await page.locator('[data-testid="task-status-filter"]').waitFor();
  await page.locator('[data-testid="tasks"], .empty').first().waitFor();
  // The prompt from a ComfyUI client is a task like the others.
  const prompt = page.locator(`[data-testid="task-row"][data-task="${process.env.GANTRY_COMFY_PROMPT}"][data-status="completed"]`);
  await prompt.filter({ hasText: 'comfyui' }).waitFor();
  await screenshot('fleet-tasks');

  // A new user, granted 100 credits.
  await page.locator('header.top nav a[href="/users"]').click();
  const create = page.locator('[data-testid="user-create-form"]');
  await create.locator('input[name="username"]').fill('journey-user');
  await create.locator('input[name="new-password"]').fill('journey-password-1');
  await create.locator('button[type="submit"]').click();
  const row = page.locator('[data-testid="user-row"][data-username="journey-user"]');
  await row.waitFor();
  await row.locator('[data-testid="user-grant"]').click();
  const grant = page.locator('[data-testid="user-grant-form"]');
  await grant.locator('input[name="amount"]').fill('100');
  await grant.locator('button[type="submit"]').click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="user-row"][data-username="journey-user"] [data-testid="user-balance"]')?.textContent?.trim() === '100',
  );
  await screenshot('fleet-users');
});
