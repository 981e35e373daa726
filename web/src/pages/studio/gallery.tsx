// Every finished result of the caller's, newest first, a page at a time, by generator.
import { useState } from 'preact/hooks';
import { get, query } from '../../api';
import { formatTime } from '../../i18n';
import { Empty, Field, Loaded, Pager, useResource } from '../../ui';
import { GENERATOR_TYPES } from './generators';
import type { PageOf, TaskSummary } from './model';
import { ResultItem } from './parts';
import { t, typeName } from './text';
import { finishedRound } from './tracker';

export function Gallery() {
  const [type, setType] = useState('');
  const [page, setPage] = useState(1);
  const tasks = useResource(
    () => get<PageOf<TaskSummary>>(`/api/v1/tasks${query({ status: 'COMPLETED', type, page, pageSize: 24 })}`),
    [type, page, finishedRound.value],
  );
  return (
    <>
      <div class="row studio-filters">
        <Field label={t('type')}>
          {(id) => (
            <select
              id={id}
              value={type}
              onChange={(e) => {
                setType(e.currentTarget.value);
                setPage(1);
              }}
            >
              <option value="">{t('allTypes')}</option>
              {GENERATOR_TYPES.map((g) => (
                <option key={g} value={g}>
                  {t(g)}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <Loaded resource={tasks}>
        {(data) => {
          const items = data.content.flatMap((task) => task.results.map((url) => ({ url, task })));
          return items.length === 0 ? (
            <Empty>{t('galleryEmpty')}</Empty>
          ) : (
            <>
              <div class="gallery studio-gallery" data-testid="gallery">
                {items.map(({ url, task }) => (
                  <div key={url} class="studio-gallery-item">
                    <ResultItem url={url} caption={task.prompt || t('resultOf', { type: typeName(task.type) })} />
                    <small class="muted">
                      <a href={`/studio/tasks/${encodeURIComponent(task.id)}`}>{typeName(task.type)}</a> · {formatTime(task.completeTime ?? task.createTime)}
                    </small>
                  </div>
                ))}
              </div>
              <Pager page={data.page} pages={data.totalPages} onPage={setPage} />
            </>
          );
        }}
      </Loaded>
    </>
  );
}
