// What this tab generated: each task's place in the queue, its steps while it runs, then
// its results (or why it failed), with cancel while it is unfinished.
import { del } from '../../api';
import { ErrorNote, useAction } from '../../ui';
import { isFinished } from './model';
import { Credits, ResultItem, TaskState } from './parts';
import { duration, t, typeName } from './text';
import { type Tracked, refresh, tracked } from './tracker';

function TrackedTask({ entry }: { entry: Tracked }) {
  const cancel = useAction(async () => {
    await del(`/api/v1/tasks/${encodeURIComponent(entry.taskId)}`);
    await refresh(entry.taskId);
  });
  const detail = entry.detail;
  const caption = detail?.prompt || t('resultOf', { type: typeName(entry.type) });
  return (
    <article class="card studio-task" data-testid="tracked-task" data-task-id={entry.taskId}>
      <header class="row spread">
        <strong>{typeName(entry.type)}</strong>
        <TaskState status={entry.status} progress={entry.progress} step={entry.step} totalSteps={entry.totalSteps} />
      </header>
      <p class="muted studio-meta">
        <a href={`/studio/tasks/${encodeURIComponent(entry.taskId)}`}>{entry.taskId}</a> · <Credits n={entry.cost} />
      </p>
      {entry.status === 'PENDING' && (
        <p data-testid="queue">
          {entry.queuePosition > 0 ? t('queued', { n: entry.queuePosition }) : t('starting')}
          {entry.estimatedTime !== null && ` · ${t('estimate', { time: duration(entry.estimatedTime) })}`}
        </p>
      )}
      {entry.status === 'FAILED' && detail && <p class="note error">{[detail.errorCode, detail.error].filter(Boolean).join(': ')}</p>}
      {entry.status === 'COMPLETED' && detail && (
        <div class="gallery">
          {detail.results.map((r) => (
            <ResultItem key={r.url} url={r.url} thumbnail={r.thumbnailUrl} format={r.format} caption={caption} />
          ))}
        </div>
      )}
      <ErrorNote error={cancel.error} />
      {!isFinished(entry.status) && (
        <div class="actions">
          <button type="button" class="danger" disabled={cancel.busy} onClick={() => void cancel.run()}>
            {t('cancel')}
          </button>
        </div>
      )}
    </article>
  );
}

export function Session() {
  const entries = tracked.value;
  return (
    <section aria-labelledby="studio-session" class="studio-session">
      <h2 id="studio-session">{t('latest')}</h2>
      {entries.length === 0 ? <p class="muted">{t('nothingYet')}</p> : entries.map((entry) => <TrackedTask key={entry.taskId} entry={entry} />)}
    </section>
  );
}
