// One task: its state (live while it runs), prompt, parameters, timings, error and results.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { formatTime } from '../../i18n';
import { useLive } from '../../live';
import { Empty, Loaded, useResource } from '../../ui';
import { isFinished, loadTask } from './model';
import { Credits, ResultItem, TaskState } from './parts';
import { TaskActions } from './tasks';
import { type Key, duration, t, typeName } from './text';
import { usePolling } from './tracker';

export function TaskPage() {
  const { params } = useRoute();
  const id = params.id ?? '';
  const task = useResource(() => loadTask(id), [id]);
  const [steps, setSteps] = useState<{ step: number; totalSteps: number } | null>(null);
  const [note, setNote] = useState('');
  useLive(['task_progress', 'task_completed', 'task_failed'], (message) => {
    if (message.data.taskId !== id) return;
    if (message.type === 'task_progress') {
      const d = message.data as { progress: number; currentStep: number; totalSteps: number };
      setSteps({ step: d.currentStep, totalSteps: d.totalSteps });
      if (task.data) task.set({ ...task.data, status: 'PROCESSING', progress: d.progress });
    } else task.reload();
  });
  usePolling(!!task.data && !isFinished(task.data.status), task.reload);
  return (
    <>
      <p>
        <a href="/studio/tasks">← {t('back')}</a>
      </p>
      <Loaded resource={task}>
        {(d) => (
          <div class="grid two studio-detail" data-testid="task-detail">
            <div class="card">
              <h2>{t('taskTitle', { id: d.id })}</h2>
              <dl class="facts">
                <dt>{t('type')}</dt>
                <dd>{typeName(d.type)}</dd>
                <dt>{t('status')}</dt>
                <dd>
                  <TaskState status={d.status} progress={d.progress} step={steps?.step} totalSteps={steps?.totalSteps} />
                </dd>
                {d.status === 'PENDING' && d.queuePosition !== null && (
                  <>
                    <dt>{t('place')}</dt>
                    <dd data-testid="queue">
                      {t('queued', { n: d.queuePosition })}
                      {d.estimatedTime !== null && ` · ${t('estimate', { time: duration(d.estimatedTime) })}`}
                    </dd>
                  </>
                )}
                <dt>{t('cost')}</dt>
                <dd>
                  <Credits n={d.cost} />
                </dd>
                <dt>{t('created')}</dt>
                <dd>{formatTime(d.createTime)}</dd>
                <dt>{t('started')}</dt>
                <dd>{formatTime(d.startTime)}</dd>
                <dt>{t('finished')}</dt>
                <dd>{formatTime(d.completeTime)}</dd>
                {d.queueTime !== null && (
                  <>
                    <dt>{t('queueTime')}</dt>
                    <dd>{duration(d.queueTime)}</dd>
                  </>
                )}
                {d.processTime !== null && (
                  <>
                    <dt>{t('processTime')}</dt>
                    <dd>{duration(d.processTime)}</dd>
                  </>
                )}
                {d.prompt && (
                  <>
                    <dt>{t('p_prompt')}</dt>
                    <dd class="studio-text">{d.prompt}</dd>
                  </>
                )}
                {d.negativePrompt && (
                  <>
                    <dt>{t('p_negativePrompt')}</dt>
                    <dd class="studio-text">{d.negativePrompt}</dd>
                  </>
                )}
                {(d.errorCode || d.error) && (
                  <>
                    <dt>{t('error')}</dt>
                    <dd class="studio-text">{[d.errorCode, d.error].filter(Boolean).join(': ')}</dd>
                  </>
                )}
              </dl>
              {d.parameters && (
                <>
                  <h3>{t('parameters')}</h3>
                  <dl class="facts studio-params-list">
                    {Object.entries(d.parameters).map(([name, value]) => (
                      <Fragment key={name}>
                        <dt>{t(`p_${name}` as Key) ?? name}</dt>
                        <dd>{String(value)}</dd>
                      </Fragment>
                    ))}
                  </dl>
                </>
              )}
              {note && (
                <p class="note ok" role="status">
                  {note}
                </p>
              )}
              <TaskActions
                task={d}
                onDone={(text) => {
                  setNote(text);
                  task.reload();
                }}
              />
            </div>
            <div class="card">
              <h2>{t('results')}</h2>
              {d.results.length === 0 ? (
                <Empty>{t('noResults')}</Empty>
              ) : (
                <div class="gallery">
                  {d.results.map((r) => (
                    <ResultItem key={r.url} url={r.url} thumbnail={r.thumbnailUrl} format={r.format} caption={d.prompt || t('resultOf', { type: typeName(d.type) })} />
                  ))}
                </div>
              )}
            </div>
          </div>
        )}
      </Loaded>
    </>
  );
}
