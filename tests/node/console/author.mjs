// Journey: a workflow author builds, saves, runs and reads a workflow in the console.
// The user signs in, creates a workflow, adds a loop (math and log inside it) and an if/else
// after it from the module catalogue, sees the server's validation error on the loop's
// empty count, fixes it, inserts a {{step.output}} variable with the picker, saves, enables
// and runs it, and reads on the execution page the log lines the loop and the if branch wrote.
// Env: GANTRY_URL, GANTRY_USER, GANTRY_PASSWORD, GANTRY_SCREENSHOTS (see browser.mjs).
import { run } from './browser.mjs';

const name = `Journey ${Date.now().toString(36)}`;

await run('author', async ({ page, signIn, screenshot }) => {
  await signIn();
  await page.getByRole('link', { name: 'Workflows' }).click();
  await page.getByRole('heading', { name: 'Workflows' }).waitFor();

  await page.getByTestId('new-workflow').click();
  await page.getByTestId('new-name').fill(name);
  await page.getByTestId('create').click();
  await page.getByRole('heading', { name }).waitFor();

  const step = (id) => page.getByTestId(`step-${id}`);
  const field = (id, input) => step(id).getByTestId(`input-${input}`).locator('input, textarea').first();
  const add = async (button, module) => {
    await page.getByTestId(button).click();
    await page.getByTestId('palette').getByTestId(`module-${module}`).click();
  };

  // loop-1 (count 3): math-1 = index × 10, log-1 writes it.
  await add('add-step', 'loop');
  await add('add-in-loop-1', 'math');
  await field('math-1', 'expression').fill('{{loop-1.index}} * 10');
  await add('add-in-loop-1', 'log');
  await field('log-1', 'message').fill('loop {{loop-1.index}} gives ');
  // if_condition-1 on the last value, a log in each branch.
  await add('add-step', 'if_condition');
  await field('if_condition-1', 'condition').fill('{{math-1.result}} >= 20');
  await add('add-in-if_condition-1', 'log');
  await field('log-2', 'message').fill('if branch: last value {{math-1.result}}');
  await page.getByTestId('add-else-if_condition-1').click();
  await add('add-in-else-1', 'log');
  await field('log-3', 'message').fill('else branch: last value {{math-1.result}}');

  // The loop's count is still empty: the server refuses and the editor shows it on that input.
  await page.getByTestId('save').click();
  await page.getByTestId('issues').waitFor();
  await step('loop-1').getByTestId('input-count').getByText('`count` is required').waitFor();
  await field('loop-1', 'count').fill('3');
  await page.getByTestId('save').click();
  await page.getByTestId('saved').waitFor();

  // Now saved, math-1's output is offered by the picker of every later step.
  await step('log-1').getByTestId('variable-picker').selectOption('{{math-1.result}}');
  const message = await field('log-1', 'message').inputValue();
  if (message !== 'loop {{loop-1.index}} gives {{math-1.result}}') throw new Error(`the picker inserted badly: ${message}`);
  await page.getByTestId('save').click();
  await page.getByTestId('saved').waitFor();

  // The blocks nest: math-1 and log-1 sit inside the loop, log-2 inside the if.
  await page.locator('.wf-loop [data-testid="step-log-1"]').waitFor();
  await page.locator('.wf-if [data-testid="step-log-2"]').waitFor();
  await page.getByTestId('enabled').check();
  await page.getByTestId('enabled').and(page.locator(':checked')).waitFor();
  await page.getByTestId('collapse-all').click();
  await screenshot('workflows-editor');

  await page.getByTestId('run').click();
  await page.waitForURL(/\/workflows\/executions\//);
  await page.getByTestId('execution-status').getByText('completed').waitFor();
  const logs = page.getByTestId('logs');
  await logs.getByText('loop 3 gives 30', { exact: true }).waitFor();
  await logs.getByText('if branch: last value 30', { exact: true }).waitFor();
  if ((await logs.getByText('else branch', { exact: false }).count()) !== 0) throw new Error('the else branch ran');
  await page.getByTestId('only-log').check();
  await logs.getByText('Starting step: math').first().waitFor({ state: 'detached' });
  await screenshot('workflows-execution');

  await page.getByRole('link', { name: 'All executions' }).click();
  await page.getByTestId('executions').getByRole('link', { name }).first().waitFor();
  await page.goto(new URL('/workflows', page.url()).href);
  const row = page.getByTestId('workflows').getByRole('row').filter({ hasText: name });
  await row.getByRole('button', { name: `Add ${name} to favourites` }).click();
  await row.getByRole('button', { name: `Remove ${name} from favourites` }).waitFor();
  await screenshot('workflows-list');
});
