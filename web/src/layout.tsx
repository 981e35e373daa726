// The frame around every signed-in page: the navigation for the caller's role, the
// language switch, the live-connection dot and sign out.
import type { ComponentChildren } from 'preact';
import { useLocation } from 'preact-iso';
import { post, session, signOut } from './api';
import { lang, messages, setLang } from './i18n';
import { connected } from './live';

export const nav = messages(
  {
    studio: 'Studio',
    workflows: 'Workflows',
    fleet: 'Fleet',
    tasks: 'Tasks',
    users: 'Users',
    machines: 'Machines',
    profile: 'Profile',
    docs: 'API',
    signOut: 'Sign out',
    live: 'Live updates connected',
    offline: 'Live updates reconnecting',
    language: 'Language',
    menu: 'Main navigation',
    skip: 'Skip to content',
  },
  {
    studio: '创作',
    workflows: '工作流',
    fleet: '算力集群',
    tasks: '任务',
    users: '用户',
    machines: '虚拟机',
    profile: '个人中心',
    docs: 'API',
    signOut: '退出登录',
    live: '实时更新已连接',
    offline: '实时更新重连中',
    language: '语言',
    menu: '主导航',
    skip: '跳到正文',
  },
);

type NavKey = 'studio' | 'workflows' | 'fleet' | 'tasks' | 'users' | 'machines' | 'profile';

const links: { key: NavKey; href: string; admin: boolean }[] = [
  { key: 'studio', href: '/studio', admin: false },
  { key: 'workflows', href: '/workflows', admin: false },
  { key: 'fleet', href: '/fleet', admin: true },
  { key: 'tasks', href: '/tasks', admin: true },
  { key: 'users', href: '/users', admin: true },
  { key: 'machines', href: '/machines', admin: true },
  { key: 'profile', href: '/profile', admin: false },
];

export function LanguageSwitch() {
  return (
    <label class="lang">
      <span class="sr-only">{nav('language')}</span>
      <select value={lang.value} onChange={(e) => setLang((e.currentTarget.value as 'en' | 'zh') ?? 'en')} data-testid="language">
        <option value="en">English</option>
        <option value="zh">简体中文</option>
      </select>
    </label>
  );
}

export function Layout({ children }: { children: ComponentChildren }) {
  const { path } = useLocation();
  const user = session.value?.user;
  const admin = user?.role === 'admin';
  const leave = async () => {
    // The server ends the session so its token stops working everywhere at once.
    await post('/api/v1/auth/logout').catch(() => undefined);
    signOut();
  };
  return (
    <div class="shell">
      <a class="skip" href="#main">
        {nav('skip')}
      </a>
      <header class="top">
        <a class="brand" href="/">
          Gantry
        </a>
        <nav aria-label={nav('menu')}>
          {links
            .filter((link) => admin || !link.admin)
            .map((link) => (
              <a key={link.key} href={link.href} aria-current={path.startsWith(link.href) ? 'page' : undefined}>
                {nav(link.key)}
              </a>
            ))}
          <a href="/docs/" target="_blank" rel="noopener">
            {nav('docs')}
          </a>
        </nav>
        <div class="who">
          <span class={connected.value ? 'dot on' : 'dot'} title={connected.value ? nav('live') : nav('offline')} aria-label={connected.value ? nav('live') : nav('offline')} role="status" />
          <LanguageSwitch />
          <span class="muted">{user?.username}</span>
          <button type="button" class="link" onClick={leave}>
            {nav('signOut')}
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
