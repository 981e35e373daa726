// /machines/-/audit and /machines/-/tasks: the audit log (logget) and the long operations
// (tasget), newest first, filtered by host, VM, actor/kind and status through the address's
// query, so a filtered view can be linked to.
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { get, query } from '../../api';
import { formatTime, messages } from '../../i18n';
import { Empty, Field, Loaded, Page, useResource } from '../../ui';
import { type AuditEntry, type TaskEntry, links } from './model';
import { useEvery } from './parts';

const t = messages(
  {
    audit: 'Audit log',
    tasks: 'Task records',
    machines: 'Virtual machines',
    host: 'Host',
    vm: 'VM',
    actor: 'Who',
    action: 'Action',
    kind: 'Operation',
    status: 'Status',
    any: 'Any',
    running: 'running',
    succeeded: 'succeeded',
    failed: 'failed',
    limit: 'Show at most',
    apply: 'Filter',
    clear: 'Clear filters',
    time: 'Time',
    result: 'Result',
    ok: 'ok',
    message: 'Message',
    started: 'Started',
    took: 'Took',
    none: 'No record matches.',
    actionHint: 'For example vm.start or nat.add.',
    kindHint: 'For example create, start or shutdown.',
  },
  {
    audit: '审计日志',
    tasks: '任务记录',
    machines: '虚拟机',
    host: '主机',
    vm: '虚拟机',
    actor: '操作者',
    action: '操作',
    kind: '任务类型',
    status: '状态',
    any: '全部',
    running: '进行中',
    succeeded: '成功',
    failed: '失败',
    limit: '最多显示',
    apply: '筛选',
    clear: '清除筛选',
    time: '时间',
    result: '结果',
    ok: '成功',
    message: '消息',
    started: '开始时间',
    took: '耗时',
    none: '没有匹配的记录。',
    actionHint: '例如 vm.start 或 nat.add。',
    kindHint: '例如 create、start 或 shutdown。',
  },
);

type Filters = Record<'hs_name' | 'vm_uuid' | 'actor' | 'action' | 'status' | 'limit', string>;

/** The filter form; submitting it puts the filters into the address. */
function FilterForm({ kind, filters }: { kind: 'audit' | 'tasks'; filters: Filters }) {
  const { route, path } = useLocation();
  const [draft, setDraft] = useState(filters);
  const text = (key: keyof Filters, label: string, hint?: string) => (
    <Field label={label} hint={hint}>
      {(id) => <input id={id} value={draft[key]} onInput={(e) => setDraft({ ...draft, [key]: e.currentTarget.value })} data-testid={`filter-${key}`} />}
    </Field>
  );
  return (
    <form
      class="card filters"
      onSubmit={(e) => {
        e.preventDefault();
        route(path + query(draft));
      }}
    >
      <div class="grid fields">
        {text('hs_name', t('host'))}
        {text('vm_uuid', t('vm'))}
        {kind === 'audit' ? text('actor', t('actor')) : null}
        {kind === 'audit' ? text('action', t('action'), t('actionHint')) : text('action', t('kind'), t('kindHint'))}
        {kind === 'tasks' && (
          <Field label={t('status')}>
            {(id) => (
              <select id={id} value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.currentTarget.value })}>
                <option value="">{t('any')}</option>
                <option value="running">{t('running')}</option>
                <option value="succeeded">{t('succeeded')}</option>
                <option value="failed">{t('failed')}</option>
              </select>
            )}
          </Field>
        )}
        <Field label={t('limit')}>
          {(id) => <input id={id} type="number" min={1} max={1000} value={draft.limit} onInput={(e) => setDraft({ ...draft, limit: e.currentTarget.value })} />}
        </Field>
      </div>
      <div class="actions">
        <button type="submit" class="primary">
          {t('apply')}
        </button>
        <a href={path}>{t('clear')}</a>
      </div>
    </form>
  );
}

function useFilters(): Filters {
  const { query: q } = useLocation();
  return { hs_name: q.hs_name ?? '', vm_uuid: q.vm_uuid ?? '', actor: q.actor ?? '', action: q.action ?? '', status: q.status ?? '', limit: q.limit ?? '100' };
}

/** A long VM id cut to its first 12 characters (the whole id is the cell's title). */
const short = (id: string) => (id.length > 14 ? `${id.slice(0, 12)}…` : id);

/** A host and VM as links to their pages. */
function Target({ host, vm }: { host: string | null; vm: string | null }) {
  return (
    <>
      <td>{host ? <a href={links.host(host)}>{host}</a> : '—'}</td>
      <td class="path" title={vm ?? undefined}>
        {host && vm ? <a href={links.vm(host, vm)}>{short(vm)}</a> : vm ? short(vm) : '—'}
      </td>
    </>
  );
}

export function AuditLog() {
  const filters = useFilters();
  const key = query(filters);
  const log = useResource(() => get<AuditEntry[]>(`/api/system/logget${key}`), [key]);
  return (
    <Page title={t('audit')} actions={<a href={links.home}>{t('machines')}</a>}>
      <FilterForm key={key} kind="audit" filters={filters} />
      <Loaded resource={log}>
        {(entries) =>
          entries.length === 0 ? (
            <Empty>{t('none')}</Empty>
          ) : (
            <div class="table-wrap">
              <table data-testid="audit-log">
                <thead>
                  <tr>
                    <th>{t('time')}</th>
                    <th>{t('actor')}</th>
                    <th>{t('action')}</th>
                    <th>{t('host')}</th>
                    <th>{t('vm')}</th>
                    <th>{t('result')}</th>
                    <th>{t('message')}</th>
                  </tr>
                </thead>
                <tbody>
                  {entries.map((e) => (
                    <tr key={e.id}>
                      <td class="time">{formatTime(e.at_ms)}</td>
                      <td>{e.actor}</td>
                      <td>
                        <code>{e.actions}</code>
                      </td>
                      <Target host={e.hs_name} vm={e.vm_uuid} />
                      <td>
                        <span class={`badge status-${e.success ? 'success' : 'failed'}`}>{e.success ? t('ok') : t('failed')}</span>
                      </td>
                      <td>{e.message}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
    </Page>
  );
}

function TaskStatus({ status }: { status: string }) {
  const known = status === 'running' || status === 'succeeded' || status === 'failed';
  return <span class={`badge status-${status === 'succeeded' ? 'success' : status}`}>{known ? t(status) : status}</span>;
}

function took(ms: number | null): string {
  if (ms === null) return '—';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function TaskRecords() {
  const filters = useFilters();
  const key = query({ ...filters, actor: undefined });
  const tasks = useResource(() => get<TaskEntry[]>(`/api/system/tasget${key}`), [key]);
  // Running operations finish on their own: keep the list current while any runs.
  useEvery(3000, () => {
    if (tasks.data?.some((task) => task.status === 'running')) tasks.reload();
  });
  return (
    <Page title={t('tasks')} actions={<a href={links.home}>{t('machines')}</a>}>
      <FilterForm key={key} kind="tasks" filters={filters} />
      <Loaded resource={tasks}>
        {(entries) =>
          entries.length === 0 ? (
            <Empty>{t('none')}</Empty>
          ) : (
            <div class="table-wrap">
              <table data-testid="task-records">
                <thead>
                  <tr>
                    <th>{t('started')}</th>
                    <th>{t('kind')}</th>
                    <th>{t('host')}</th>
                    <th>{t('vm')}</th>
                    <th>{t('actor')}</th>
                    <th>{t('status')}</th>
                    <th class="num">{t('took')}</th>
                    <th>{t('message')}</th>
                  </tr>
                </thead>
                <tbody>
                  {entries.map((task) => (
                    <tr key={task.id}>
                      <td class="time">{formatTime(task.started_at)}</td>
                      <td>{task.kind}</td>
                      <Target host={task.hs_name} vm={task.vm_uuid} />
                      <td>{task.actor}</td>
                      <td>
                        <TaskStatus status={task.status} />
                      </td>
                      <td class="num">{took(task.duration_ms)}</td>
                      <td>{task.message}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
    </Page>
  );
}
