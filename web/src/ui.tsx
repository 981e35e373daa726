// Small shared pieces every page uses: loading data, showing errors, form fields, tables.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api';
import { apiErrorText } from './errors';
import { messages } from './i18n';

const t = messages(
  { loading: 'Loading…', retry: 'Try again', empty: 'Nothing here yet.' },
  { loading: '加载中…', retry: '重试', empty: '暂无内容。' },
);

export interface Resource<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
  set: (data: T) => void;
}

/** Loads `load()` on mount and whenever `deps` change. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[] = []): Resource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (value) => {
        if (!live) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (failure: unknown) => {
        if (!live) return;
        setError(failure);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { data, error, loading, reload, set: setData };
}

/**
 * The text of an error for people, in the chosen language: for a server's refusal a sentence
 * from its code or status, with the server's own message as the detail (English shows that
 * message as it is); a network note when the server could not be reached.
 */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) return apiErrorText(error);
  if (error instanceof Error) return error.message;
  return String(error);
}

export function ErrorNote({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div class="note error" role="alert">
      <span>{errorText(error)}</span>
      {onRetry && (
        <button type="button" class="link" onClick={onRetry}>
          {t('retry')}
        </button>
      )}
    </div>
  );
}

/** Shows `children(data)` once loaded; the error (with a retry) or a loading line until then. */
export function Loaded<T>({ resource, children }: { resource: Resource<T>; children: (data: T) => ComponentChildren }) {
  if (resource.error) return <ErrorNote error={resource.error} onRetry={resource.reload} />;
  if (resource.data === null) return <p class="muted">{t('loading')}</p>;
  return <>{children(resource.data)}</>;
}

export function Empty({ children }: { children?: ComponentChildren }) {
  return <p class="muted empty">{children ?? t('empty')}</p>;
}

export function Page({ title, actions, children }: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  useEffect(() => {
    document.title = `${title} · Gantry`;
  }, [title]);
  return (
    <section class="page">
      <header class="page-head">
        <h1>{title}</h1>
        {actions && <div class="actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

let fieldIds = 0;

/** A labelled form field; `children` is the input, which gets the label's id. */
export function Field({ label, hint, children }: { label: string; hint?: string; children: (id: string) => ComponentChildren }) {
  const [id] = useState(() => `f${++fieldIds}`);
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children(id)}
      {hint && <small class="muted">{hint}</small>}
    </div>
  );
}

/** Runs an action once at a time, keeping its error for the form to show. */
export function useAction<A extends unknown[]>(action: (...args: A) => Promise<unknown>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (...args: A) => {
    setBusy(true);
    setError(null);
    try {
      await action(...args);
      return true;
    } catch (failure) {
      setError(failure);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, setError };
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status.toLowerCase()}`}>{status}</span>;
}

const pagerText = messages(
  { previous: 'Previous', next: 'Next', pageOf: 'Page {page} of {pages}' },
  { previous: '上一页', next: '下一页', pageOf: '第 {page} / {pages} 页' },
);

/** Previous / next over numbered pages (1-based); nothing when there is one page. */
export function Pager({ page, pages, onPage }: { page: number; pages: number; onPage: (page: number) => void }) {
  if (pages <= 1) return null;
  return (
    <div class="row pager">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        {pagerText('previous')}
      </button>
      <span>{pagerText('pageOf', { page, pages })}</span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        {pagerText('next')}
      </button>
    </div>
  );
}
