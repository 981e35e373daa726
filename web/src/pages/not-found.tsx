import { messages } from '../i18n';
import { Page } from '../ui';

const t = messages(
  { title: 'Page not found', body: 'There is no page at this address.', home: 'Back to the start' },
  { title: '页面不存在', body: '这个地址没有页面。', home: '返回首页' },
);

export function NotFound() {
  return (
    <Page title={t('title')}>
      <p>{t('body')}</p>
      <a href="/">{t('home')}</a>
    </Page>
  );
}
