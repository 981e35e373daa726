// Runs a workflow by hand with input variables (`{{vars.name}}`), and lists its recent
// executions. Unsaved changes are saved first, so the run is what the editor shows.
import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { get, post, query } from '../../api';
import { formatTime, messages } from '../../i18n';
import { Empty, ErrorNote, Loaded, useAction, useResource } from '../../ui';
import { type Execution, fromEditable } from './model';
import { RunStatus } from './status';

const t = messages(
  {
    title: 'Run',
    lead: 'Input variables are read by steps as {{vars.name}}.',
    name: 'Variable name',
    value: 'Value',
    add: 'Add a variable',
    remove: 'Remove variable {name}',
    run: 'Run now',
    saveAndRun: 'Save and run',
    running: 'Starting…',
    recent: 'Recent executions',
    all: 'All executions of this workflow',
  },
  {
    title: '运行',
    lead: '步骤通过 {{vars.名称}} 读取输入变量。',
    name: '变量名',
    value: '值',
    add: '添加变量',
    remove: '删除变量 {name}',
    run: '立即运行',
    saveAndRun: '保存并运行',
    running: '启动中…',
    recent: '最近的执行',
    all: '此工作流的全部执行',
  },
);

type Row = { name: string; value: string };

/**
 * `beforeRun` saves unsaved changes and says whether the run may go ahead; `onRefused` hears
 * a refusal (its details name the steps the server found wrong).
 */
export function RunPanel({
  workflowId,
  names,
  dirty,
  beforeRun,
  onRefused,
}: {
  workflowId: string;
  names: string[];
  dirty: boolean;
  beforeRun: () => Promise<boolean>;
  onRefused: (error: unknown) => void;
}) {
  const { route } = useLocation();
  const [rows, setRows] = useState<Row[]>(() => names.map((name) => ({ name, value: '' })));
  useEffect(() => {
    setRows((current) => [...current, ...names.filter((n) => !current.some((r) => r.name === n)).map((name) => ({ name, value: '' }))]);
  }, [names.join('\n')]);
  const recent = useResource(() => get<{ executions: Execution[] }>(`/api/v1/executions${query({ workflowId, limit: 5 })}`), [workflowId]);
  const run = useAction(async () => {
    if (!(await beforeRun())) return;
    const inputVariables = Object.fromEntries(rows.filter((r) => r.name.trim()).map((r) => [r.name.trim(), fromEditable({ id: r.name, type: 'any', description: '', descriptionEn: '' }, undefined, r.value) ?? '']));
    const started = await post<{ executionId: string }>(`/api/v1/workflows/${encodeURIComponent(workflowId)}/execute`, { inputVariables }).catch((e: unknown) => {
      onRefused(e);
      throw e;
    });
    route(`/workflows/executions/${encodeURIComponent(started.executionId)}`);
  });
  const set = (i: number, patch: Partial<Row>) => setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <section class="card" aria-labelledby="wf-run-title">
      <h2 id="wf-run-title">{t('title')}</h2>
      <p class="muted">{t('lead')}</p>
      {rows.map((r, i) => (
        <div class="row wf-var" key={i}>
          <input aria-label={t('name')} placeholder={t('name')} value={r.name} onInput={(e) => set(i, { name: e.currentTarget.value })} />
          <input aria-label={t('value')} placeholder={t('value')} value={r.value} onInput={(e) => set(i, { value: e.currentTarget.value })} />
          <button type="button" class="danger" aria-label={t('remove', { name: r.name || '—' })} title={t('remove', { name: r.name || '—' })} onClick={() => setRows(rows.filter((_, j) => j !== i))}>
            ✕
          </button>
        </div>
      ))}
      <div class="actions">
        <button type="button" onClick={() => setRows([...rows, { name: '', value: '' }])}>
          {t('add')}
        </button>
        <button type="button" class="primary" data-testid="run" disabled={run.busy} onClick={() => void run.run()}>
          {run.busy ? t('running') : dirty ? t('saveAndRun') : t('run')}
        </button>
      </div>
      <ErrorNote error={run.error} />
      <h3>{t('recent')}</h3>
      <Loaded resource={recent}>
        {(data) =>
          data.executions.length === 0 ? (
            <Empty />
          ) : (
            <ul class="wf-recent">
              {data.executions.map((e) => (
                <li key={e.executionId}>
                  <a href={`/workflows/executions/${encodeURIComponent(e.executionId)}`}>{formatTime(e.startedAt)}</a> <RunStatus status={e.status} />
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      <a href={`/workflows/executions${query({ workflowId })}`}>{t('all')}</a>
    </section>
  );
}
