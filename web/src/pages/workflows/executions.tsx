// The caller's executions, newest first, by status and (from a workflow's page) workflow.
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { get, query } from '../../api';
import { formatTime, messages } from '../../i18n';
import { useLive } from '../../live';
import { Empty, Field, Loaded, Page, Pager, useResource } from '../../ui';
import { type Execution, duration } from './model';
import { RunStatus, STATUSES, statusLabel } from './status';

const t = messages(
  {
    title: 'Executions',
    back: 'Workflows',
    status: 'Status',
    any: 'Any',
    workflow: 'Workflow',
    started: 'Started',
    took: 'Duration',
    trigger: 'Started by',
    onlyOne: 'Only the executions of one workflow.',
    showAll: 'Show every workflow',
    none: 'No executions yet.',
  },
  {
    title: '执行记录',
    back: '工作流',
    status: '状态',
    any: '全部',
    workflow: '工作流',
    started: '开始时间',
    took: '耗时',
    trigger: '触发方式',
    onlyOne: '仅显示一个工作流的执行记录。',
    showAll: '显示全部工作流',
    none: '还没有执行记录。',
  },
);

const PAGE = 20;

export function Executions() {
  const { query: params, route } = useLocation();
  const workflowId = params.workflowId ?? '';
  const [status, setStatus] = useState('');
  const [offset, setOffset] = useState(0);
  const list = useResource(
    () => get<{ executions: Execution[]; total: number }>(`/api/v1/executions${query({ workflowId, status, limit: PAGE, offset })}`),
    [workflowId, status, offset],
  );
  // A run that ends changes its row (and maybe the filter's matches).
  useLive(['execution_finished'], () => list.reload());
  return (
    <Page title={t('title')} actions={<a href="/workflows">{t('back')}</a>}>
      <div class="row wf-filters">
        <Field label={t('status')}>
          {(id) => (
            <select
              id={id}
              value={status}
              onChange={(e) => {
                setStatus(e.currentTarget.value);
                setOffset(0);
              }}
            >
              <option value="">{t('any')}</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {statusLabel(s)}
                </option>
              ))}
            </select>
          )}
        </Field>
        {workflowId && (
          <p class="muted">
            {t('onlyOne')}{' '}
            <button type="button" class="link" onClick={() => route('/workflows/executions')}>
              {t('showAll')}
            </button>
          </p>
        )}
      </div>
      <Loaded resource={list}>
        {(data) =>
          data.executions.length === 0 ? (
            <Empty>{t('none')}</Empty>
          ) : (
            <>
              <div class="table-wrap">
                <table class="wf-stack" data-testid="executions">
                  <thead>
                    <tr>
                      <th>{t('started')}</th>
                      <th>{t('workflow')}</th>
                      <th>{t('status')}</th>
                      <th class="num">{t('took')}</th>
                      <th>{t('trigger')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.executions.map((e) => (
                      <tr key={e.executionId}>
                        <td data-label={t('started')}>
                          <a href={`/workflows/executions/${encodeURIComponent(e.executionId)}`}>{formatTime(e.startedAt)}</a>
                        </td>
                        <td data-label={t('workflow')}>
                          <a href={`/workflows/${encodeURIComponent(e.workflowId)}`}>{e.workflowName}</a>
                        </td>
                        <td data-label={t('status')}>
                          <RunStatus status={e.status} />
                          {e.error && <div class="muted">{e.error}</div>}
                        </td>
                        <td class="num" data-label={t('took')}>
                          {duration(e.duration)}
                        </td>
                        <td data-label={t('trigger')}>{statusLabel(e.triggeredBy)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager page={offset / PAGE + 1} pages={Math.ceil(data.total / PAGE)} onPage={(p) => setOffset((p - 1) * PAGE)} />
            </>
          )
        }
      </Loaded>
    </Page>
  );
}
