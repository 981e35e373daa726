// The creators' studio (star-graph): generate, the gallery of results, and the caller's tasks.
// Sub-pages: /studio, /studio/gallery, /studio/tasks, /studio/tasks/:id.
import { Route, Router, useLocation } from 'preact-iso';
import { NotFound } from '../not-found';
import { Page } from '../../ui';
import { Gallery } from './gallery';
import { Generate } from './generate';
import { TaskPage } from './task';
import { Tasks } from './tasks';
import { t } from './text';
import { useTracker } from './tracker';

const SECTIONS = [
  { href: '/studio', key: 'create' },
  { href: '/studio/gallery', key: 'gallery' },
  { href: '/studio/tasks', key: 'tasks' },
] as const;

function Sections() {
  const { path } = useLocation();
  const current = (href: string) => (href === '/studio' ? path === '/studio' : path.startsWith(href));
  return (
    <nav class="studio-sections" aria-label={t('sections')}>
      {SECTIONS.map((s) => (
        <a key={s.href} href={s.href} aria-current={current(s.href) ? 'page' : undefined} data-testid={`studio-${s.key}`}>
          {t(s.key)}
        </a>
      ))}
    </nav>
  );
}

export function Studio() {
  useTracker();
  return (
    <Page title={t('title')} actions={<Sections />}>
      <Router>
        <Route path="/" component={Generate} />
        <Route path="/gallery" component={Gallery} />
        <Route path="/tasks" component={Tasks} />
        <Route path="/tasks/:id" component={TaskPage} />
        <Route default component={NotFound} />
      </Router>
    </Page>
  );
}
