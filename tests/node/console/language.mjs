// Journey: the console follows the browser's language and switches on request.
// A Chinese browser opens the sign-in page in Chinese; switching to English changes every
// label at once and survives a reload; the choice follows the user into the signed-in pages.
// Env: GANTRY_URL, GANTRY_USER, GANTRY_PASSWORD, GANTRY_SCREENSHOTS.
import { base, run } from './browser.mjs';

await run(
  'language',
  async ({ page, signIn, screenshot }) => {
    await page.goto(base + '/');
    await page.getByRole('heading', { name: '登录 Gantry' }).waitFor();
    await page.getByLabel('用户名').waitFor();
    await screenshot('sign-in-zh');

    await page.getByTestId('language').selectOption('en');
    await page.getByRole('heading', { name: 'Sign in to Gantry' }).waitFor();
    await page.getByLabel('Username').waitFor();
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in to Gantry' }).waitFor();
    if ((await page.getAttribute('html', 'lang')) !== 'en') throw new Error('<html lang> did not follow the switch');

    await signIn();
    await page.getByRole('link', { name: 'Profile' }).click();
    await page.getByRole('heading', { name: 'Profile' }).waitFor();
    await page.getByTestId('language').selectOption('zh');
    await page.getByRole('heading', { name: '个人中心' }).waitFor();
    await page.getByRole('link', { name: '创作' }).waitFor();
    if ((await page.getAttribute('html', 'lang')) !== 'zh-CN') throw new Error('<html lang> did not follow the switch');
    await screenshot('profile-zh');

    // A deep link opens its page directly, in the chosen language, and an unknown one says so.
    await page.goto(base + '/no/such/page');
    await page.getByRole('heading', { name: '页面不存在' }).waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(base + '/profile');
    await page.getByRole('heading', { name: '个人中心' }).waitFor();
    await screenshot('profile-phone');
  },
  { locale: 'zh-CN' },
);
