// Journey: an admin manages a VM from the console — hosts, the host's VMs, starting the VM
// and watching its power state turn to running, then its screen in the embedded noVNC
// console, signed in by the console ticket's one-time password (nobody types one);
// disconnecting and reconnecting takes a fresh ticket.
//
// Environment (besides browser.mjs's GANTRY_URL, GANTRY_USER, GANTRY_PASSWORD,
// GANTRY_SCREENSHOTS):
//   GANTRY_HOST  the openidcs host the test created (hs_name);
//   GANTRY_VM    the uuid of a VM on it that boots a guest with a screen, created stopped.
// Screenshots: machines-hosts, machines-vms, machines-console.
import { run } from './browser.mjs';

const host = process.env.GANTRY_HOST;
const vm = process.env.GANTRY_VM;
if (!host || !vm) throw new Error('set GANTRY_HOST and GANTRY_VM');

/** What the console's canvas shows: its size and how many distinct colours a sample has. */
function readCanvas() {
  const canvas = document.querySelector('[data-testid="console-screen"] canvas');
  if (!canvas) return { found: false };
  const box = canvas.getBoundingClientRect();
  const { width, height } = canvas;
  const colours = new Set();
  if (width > 0 && height > 0) {
    const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
    // Every 7th pixel is plenty to tell a picture from a blank screen.
    for (let i = 0; i < data.length && colours.size < 16; i += 4 * 7) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  }
  return { found: true, width, height, shown: box.width > 0 && box.height > 0, colours: colours.size };
}

/** Polls until the guest's screen shows more than one colour (it boots for a while). */
async function waitForPicture(page, seconds = 30) {
  let last;
  for (let waited = 0; waited < seconds * 2; waited++) {
    last = await page.evaluate(readCanvas);
    if (last.found && last.width > 0 && last.height > 0 && last.shown && last.colours > 1) return last;
    await page.waitForTimeout(500);
  }
  throw new Error(`the console shows no picture: ${JSON.stringify(last)}`);
}

run('vm-admin', async ({ page, signIn, screenshot }) => {
  await signIn();

  // Hosts: the machines page lists the test's host.
  await page.locator('header.top nav a[href="/machines"]').click();
  const hostLink = page.locator(`[data-testid="host-link"][data-host="${host}"]`);
  await hostLink.waitFor();
  await screenshot('machines-hosts');

  // The host's VMs, with the test's VM stopped.
  await hostLink.click();
  const row = page.locator(`[data-testid="vm-row"][data-vm="${vm}"]`);
  await row.locator('[data-testid="vm-power"][data-power="STOPPED"]').waitFor();
  await page.locator('[data-testid="host-status"]').waitFor();
  await screenshot('machines-vms');

  // Start it from its page; the state turns to running (and stays so on the next polls).
  await row.locator('[data-testid="vm-link"]').click();
  const power = page.locator('[data-testid="vm-status"] [data-testid="vm-power"]');
  await power.and(page.locator('[data-power="STOPPED"]')).waitFor();
  await page.locator('[data-testid="vm-start"]').click();
  await power.and(page.locator('[data-power="STARTED"]')).waitFor({ timeout: 60_000 });

  // The console: connected without a password field, showing the guest's screen.
  await page.locator('[data-testid="vm-console"]').click();
  const state = page.locator('[data-testid="console-state"]');
  await state.and(page.locator('[data-state="connected"]')).waitFor({ timeout: 30_000 });
  if ((await page.locator('input[type="password"]').count()) > 0) throw new Error('the console asked for a password');
  const picture = await waitForPicture(page);
  console.log(`console canvas ${picture.width}×${picture.height}, ${picture.colours}+ colours`);
  await screenshot('machines-console');

  // Disconnect, then reconnect: a fresh ticket opens it again.
  await page.locator('[data-testid="console-disconnect"]').click();
  await state.and(page.locator('[data-state="disconnected"]')).waitFor();
  await page.locator('[data-testid="console-reconnect"]').click();
  await state.and(page.locator('[data-state="connected"]')).waitFor({ timeout: 30_000 });
  await waitForPicture(page);
});
