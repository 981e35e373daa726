// The caller's tasks, a page at a time, by state and generator, kept current while any
// runs; cancel the unfinished, retry the finished (a new charge).
import { useState } from 'preact/hooks';
import { del, get, post, query } from '../../api';
import { formatTime } from '../../i18n';
import { useLive } from '../../live';
import { Empty, ErrorNote, Field, Loaded, Pager, useAction, useResource } from '../../ui';
import { GENERATOR_TYPES } from './generators';
import { type PageOf, type Retried, type TaskStatus, type TaskSummary, coded, isFinished } from './model';
import { Credits, TaskState } from './parts';
import { t, typeName } from './text';
import { finishedRound, track, usePolling } from './tracker';

const STATUSES: TaskStatus[] = ['PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED'];

/** Cancel and retry for one task; `done` says what happened. */
export function TaskActions({ task, onDone }: { task: { id: string; type: string; status: TaskStatus; cost: number }; onDone: (note: string) => void }) {
  const path = `/api/v1/tasks/${encodeURIComponent(task.id)}`;
  const cancel = useAction(async () => {
    const answer = await del<{ refund: number }>(path);
    onDone(t('cancelled', { n: answer.refund }));
  });
  const retry = useAction(async () => {
    const answer = await coded(post<Retried>(`${path}/retry`));
    track({ taskId: answer.newTaskId, queuePosition: answer.queuePosition, cost: answer.cost }, task.type);
    onDone(t('retried', { id: answer.newTaskId, n: answer.cost }));
  });
  return (
    <div class="actions">
      {isFinished(task.status) ? (
        <button type="button" disabled={retry.busy} onClick={() => void retry.run()} data-testid="retry">
          {t('retry', { n: task.cost })}
        </button>
      ) : (
        <button type="button" class="danger" disabled={cancel.busy} onClick={() => void cancel.run()} data-testid="cancel">
          {t('cancel')}
        </button>
      )}
      <ErrorNote error={cancel.error ?? retry.error} />
    </div>
  );
}

interface Live {
  progress: number;
  step: number;
  totalSteps: number;
}

export function Tasks() {
  const [status, setStatus] = useState('');
  const [type, setType] = useState('');
  const [page, setPage] = useState(1);
  const [note, setNote] = useState('');
  const [live, setLive] = useState<Record<string, Live>>({});
  const tasks = useResource(
    () => get<PageOf<TaskSummary>>(`/api/v1/tasks${query({ status, type, page, pageSize: 20 })}`),
    [status, type, page, finishedRound.value],
  );
  const shown = tasks.data?.content ?? [];
  useLive(['task_progress', 'task_completed', 'task_failed'], (message) => {
    const id = String(message.data.taskId ?? '');
    if (!shown.some((task) => task.id === id)) return;
    if (message.type === 'task_progress') {
      const d = message.data as { progress: number; currentStep: number; totalSteps: number };
      setLive((was) => ({ ...was, [id]: { progress: d.progress, step: d.currentStep, totalSteps: d.totalSteps } }));
    } else tasks.reload();
  });
  usePolling(
    shown.some((task) => !isFinished(task.status)),
    () => tasks.reload(),
  );
  const done = (text: string) => {
    setNote(text);
    tasks.reload();
  };
  const filter = (label: string, value: string, set: (v: string) => void, all: string, options: { value: string; text: string }[]) => (
    <Field label={label}>
      {(id) => (
        <select
          id={id}
          value={value}
          onChange={(e) => {
            set(e.currentTarget.value);
            setPage(1);
          }}
        >
          <option value="">{all}</option>
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.text}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
  return (
    <>
      <div class="row studio-filters">
        {filter(t('status'), status, setStatus, t('allStatuses'), STATUSES.map((s) => ({ value: s, text: t(s) })))}
        {filter(t('type'), type, setType, t('allTypes'), GENERATOR_TYPES.map((g) => ({ value: g, text: t(g) })))}
        <button type="button" onClick={tasks.reload}>
          {t('refresh')}
        </button>
      </div>
      {note && (
        <p class="note ok" role="status">
          {note}
        </p>
      )}
      <Loaded resource={tasks}>
        {(data) =>
          data.content.length === 0 ? (
            <Empty>{t('tasksEmpty')}</Empty>
          ) : (
            <>
              <div class="table-wrap">
                <table data-testid="task-table">
                  <thead>
                    <tr>
                      <th>{t('created')}</th>
                      <th>{t('type')}</th>
                      <th>{t('p_prompt')}</th>
                      <th>{t('status')}</th>
                      <th class="num">{t('cost')}</th>
                      <th>{t('actions')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.content.map((task) => {
                      const now = live[task.id];
                      return (
                        <tr key={task.id} data-testid="task-row" data-task-id={task.id}>
                          <td>
                            <a href={`/studio/tasks/${encodeURIComponent(task.id)}`}>{formatTime(task.createTime)}</a>
                          </td>
                          <td>{typeName(task.type)}</td>
                          <td class="studio-prompt" title={task.prompt ?? ''}>
                            {task.prompt ?? '—'}
                          </td>
                          <td>
                            <TaskState status={task.status} progress={now?.progress ?? task.progress} step={now?.step} totalSteps={now?.totalSteps} />
                          </td>
                          <td class="num">
                            <Credits n={task.cost} />
                          </td>
                          <td>
                            <TaskActions task={task} onDone={done} />
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
              <Pager page={data.page} pages={data.totalPages} onPage={setPage} />
            </>
          )
        }
      </Loaded>
    </>
  );
}
