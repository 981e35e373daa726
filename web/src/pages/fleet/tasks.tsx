// Every user's tasks (/tasks, admins): filtered by state, a page at a time, newest first,
// with progress, outputs and cancel. Live messages move progress and states in place; new
// tasks (announced by global_status) bring a refetch of the first page.
import { useState } from 'preact/hooks';
import { formatNumber, formatTime, messages } from '../../i18n';
import { useLive } from '../../live';
import type { LiveMessage } from '../../live';
import { Empty, ErrorNote, Field, Loaded, Page, useAction, useResource } from '../../ui';
import { AdminOnly, Badge, states, useThrottled } from './common';
import { TASK_STATUSES, cancelTask, tasks, users } from './model';
import type { Task, TaskPage, TaskStatus } from './model';

const t = messages(
  {
    title: 'Tasks',
    status: 'State',
    all: 'All states',
    task: 'Task',
    user: 'User',
    progress: 'Progress',
    instance: 'Instance',
    attempts: 'Attempts',
    created: 'Submitted',
    updated: 'Updated',
    outcome: 'Outcome',
    queued: 'Place {n} in the queue',
    outputs: 'Outputs: {n}',
    cancel: 'Cancel task',
    none: 'No tasks.',
    previous: 'Previous',
    next: 'Next',
    range: '{from}–{to} of {total}',
    refresh: 'Refresh',
  },
  {
    title: '任务',
    status: '状态',
    all: '全部状态',
    task: '任务',
    user: '用户',
    progress: '进度',
    instance: '实例',
    attempts: '尝试次数',
    created: '提交时间',
    updated: '更新时间',
    outcome: '结果',
    queued: '队列第 {n} 位',
    outputs: '输出：{n} 个',
    cancel: '取消任务',
    none: '没有任务。',
    previous: '上一页',
    next: '下一页',
    range: '第 {from}–{to} 条，共 {total} 条',
    refresh: '刷新',
  },
);

const PAGE_SIZE = 20;

/** Usernames by id, for showing whose task it is (the first 100 users; others show their id). */
function useUsernames(): Map<number, string> {
  const list = useResource(() => users(1, 100));
  return new Map((list.data?.content ?? []).map((user) => [user.id, user.username]));
}

function Outcome({ task }: { task: Task }) {
  if (task.status === 'completed' && task.result) {
    const [first] = task.result.files;
    return first ? (
      <a href={first} target="_blank" rel="noopener">
        {t('outputs', { n: task.result.files.length })}
      </a>
    ) : (
      <span>{t('outputs', { n: 0 })}</span>
    );
  }
  if (task.error || task.errorCode) {
    return (
      <span class="fleet-error">
        {task.errorCode && <code>{task.errorCode}</code>} {task.error}
      </span>
    );
  }
  if (task.queuePosition) return <span class="muted">{t('queued', { n: task.queuePosition })}</span>;
  return <>—</>;
}

function TaskRow({ task, username, onChanged }: { task: Task; username: string; onChanged: (task: Task) => void }) {
  const cancel = useAction(async () => onChanged(await cancelTask(task.id)));
  const open = task.status === 'pending' || task.status === 'running';
  return (
    <tr data-testid="task-row" data-task={task.id} data-status={task.status}>
      <td>
        <code title={task.id}>{task.id.slice(0, 8)}</code>
        <div class="muted">{task.kind}</div>
      </td>
      <td>{username}</td>
      <td>
        <Badge state={task.status} />
      </td>
      <td class="fleet-progress">
        <progress max={100} value={task.progress} aria-label={t('progress')} />
        <span class="num">{task.progress}%</span>
      </td>
      <td>{task.instanceId ?? '—'}</td>
      <td class="num">{formatNumber(task.attempts)}</td>
      <td>{formatTime(task.createdAt)}</td>
      <td>{formatTime(task.updatedAt)}</td>
      <td class="fleet-wrap">
        <Outcome task={task} />
        <ErrorNote error={cancel.error} />
      </td>
      <td>
        {open && (
          <button type="button" class="danger" disabled={cancel.busy} onClick={() => void cancel.run()} data-testid="task-cancel">
            {t('cancel')}
          </button>
        )}
      </td>
    </tr>
  );
}

/** The task after a live message about it, or null when the message says nothing usable. */
function applyLive(task: Task, message: LiveMessage): Task | null {
  const data = message.data ?? {};
  switch (message.type) {
    case 'task_progress':
      return typeof data.progress === 'number' ? { ...task, status: 'running', progress: data.progress, queuePosition: null } : null;
    case 'task_completed': {
      const files = (data.result as { files?: unknown } | undefined)?.files;
      return { ...task, status: 'completed', progress: 100, queuePosition: null, result: { files: Array.isArray(files) ? files.map(String) : [] } };
    }
    case 'task_failed': {
      const code = typeof data.code === 'string' ? data.code : null;
      const status: TaskStatus = code === 'CANCELLED' ? 'cancelled' : 'failed';
      return { ...task, status, queuePosition: null, errorCode: code, error: typeof data.error === 'string' ? data.error : task.error };
    }
    default:
      return null;
  }
}

function TaskTable({ page, usernames, onChanged }: { page: TaskPage; usernames: Map<number, string>; onChanged: (task: Task) => void }) {
  if (page.items.length === 0) return <Empty>{t('none')}</Empty>;
  return (
    <div class="table-wrap">
      <table class="fleet-table" data-testid="tasks">
        <thead>
          <tr>
            <th>{t('task')}</th>
            <th>{t('user')}</th>
            <th>{t('status')}</th>
            <th>{t('progress')}</th>
            <th>{t('instance')}</th>
            <th class="num">{t('attempts')}</th>
            <th>{t('created')}</th>
            <th>{t('updated')}</th>
            <th>{t('outcome')}</th>
            <th>
              <span class="sr-only">{t('cancel')}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {page.items.map((task) => (
            <TaskRow key={task.id} task={task} username={usernames.get(task.userId) ?? `#${task.userId}`} onChanged={onChanged} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function TaskList() {
  const [status, setStatus] = useState<TaskStatus | ''>('');
  const [offset, setOffset] = useState(0);
  const list = useResource(() => tasks({ status, limit: PAGE_SIZE, offset }), [status, offset]);
  const usernames = useUsernames();
  const refetch = useThrottled(list.reload, 2000);

  const replace = (next: Task) => {
    if (!list.data) return;
    if (status && next.status !== status) return refetch();
    list.set({ ...list.data, items: list.data.items.map((task) => (task.id === next.id ? next : task)) });
  };

  useLive(['task_progress', 'task_completed', 'task_failed', 'global_status'], (message) => {
    const task = list.data?.items.find((item) => item.id === message.data?.taskId);
    const next = task && applyLive(task, message);
    if (next) replace(next);
    // A task not on this page, or a change in the totals (a new task): the first page may have moved.
    else if (offset === 0) refetch();
  });

  return (
    <>
      <div class="row fleet-filters">
        <Field label={t('status')}>
          {(id) => (
            <select
              id={id}
              value={status}
              data-testid="task-status-filter"
              onChange={(e) => {
                setStatus(e.currentTarget.value as TaskStatus | '');
                setOffset(0);
              }}
            >
              <option value="">{t('all')}</option>
              {TASK_STATUSES.map((name) => (
                <option key={name} value={name}>
                  {states(name)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <button type="button" onClick={list.reload} disabled={list.loading}>
          {t('refresh')}
        </button>
      </div>
      <Loaded resource={list}>
        {(page) => (
          <>
            <TaskTable page={page} usernames={usernames} onChanged={replace} />
            {page.total > PAGE_SIZE && (
              <div class="row pager">
                <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE_SIZE))}>
                  {t('previous')}
                </button>
                <span>
                  {t('range', { from: formatNumber(offset + 1), to: formatNumber(Math.min(offset + PAGE_SIZE, page.total)), total: formatNumber(page.total) })}
                </span>
                <button type="button" disabled={offset + PAGE_SIZE >= page.total} onClick={() => setOffset(offset + PAGE_SIZE)}>
                  {t('next')}
                </button>
              </div>
            )}
          </>
        )}
      </Loaded>
    </>
  );
}

export function Tasks() {
  return (
    <Page title={t('title')}>
      <AdminOnly>
        <TaskList />
      </AdminOnly>
    </Page>
  );
}
