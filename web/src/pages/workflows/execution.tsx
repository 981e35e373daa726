// One execution: its status and progress, its log as it is written (polled every second
// while it runs; the live socket says when it ends), its outputs and variables, and a stop
// button while it runs.
import { useEffect, useRef, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { get, post, query } from '../../api';
import { formatTime, messages } from '../../i18n';
import { useLive } from '../../live';
import { Empty, ErrorNote, Field, Loaded, Page, useAction, useResource } from '../../ui';
import { type Execution, type LogLine, duration } from './model';
import { RunStatus, statusLabel } from './status';

const t = messages(
  {
    title: 'Execution',
    workflow: 'Workflow',
    all: 'All executions',
    status: 'Status',
    started: 'Started',
    ended: 'Ended',
    took: 'Duration',
    trigger: 'Started by',
    progress: 'Step {at} of {total}',
    stop: 'Stop',
    stopping: 'Stopping…',
    error: 'Error',
    logs: 'Log',
    level: 'Level',
    anyLevel: 'Every level',
    info: 'Info',
    warning: 'Warning',
    time: 'Time',
    step: 'Step',
    message: 'Message',
    details: 'Details',
    onlyLog: 'Only what Log steps wrote, warnings and errors',
    live: 'Updating every second while it runs.',
    outputs: 'Step outputs',
    variables: 'Variables',
    noLogs: 'No log lines.',
  },
  {
    title: '执行详情',
    workflow: '工作流',
    all: '全部执行记录',
    status: '状态',
    started: '开始时间',
    ended: '结束时间',
    took: '耗时',
    trigger: '触发方式',
    progress: '第 {at} / {total} 步',
    stop: '停止',
    stopping: '停止中…',
    error: '错误',
    logs: '日志',
    level: '级别',
    anyLevel: '全部级别',
    info: '信息',
    warning: '警告',
    time: '时间',
    step: '步骤',
    message: '消息',
    details: '详情',
    onlyLog: '只看日志步骤写入的内容、警告和错误',
    live: '运行期间每秒刷新。',
    outputs: '步骤输出',
    variables: '变量',
    noLogs: '没有日志。',
  },
);

const PAGE = 1000;

/** Every log line of an execution at `level`, reading on from `from` lines already held. */
async function readLogs(id: string, level: string, from: LogLine[]): Promise<LogLine[]> {
  let lines = from;
  for (;;) {
    const page = await get<{ logs: LogLine[]; total: number }>(`/api/v1/executions/${encodeURIComponent(id)}/logs${query({ level, limit: PAGE, offset: lines.length })}`);
    if (page.total < lines.length) return readLogs(id, level, []);
    lines = [...lines, ...page.logs];
    if (page.logs.length < PAGE || lines.length >= page.total) return lines;
  }
}

/** Whether a line is one a Log step wrote (not its start or end), a warning, an error or about the run. */
function written(l: LogLine): boolean {
  return l.level !== 'info' || l.stepIndex === null || (l.moduleId === 'log' && (l.details === null || l.details === undefined));
}

function Json({ label, value }: { label: string; value: unknown }) {
  if (value === null || value === undefined || (typeof value === 'object' && Object.keys(value).length === 0)) return null;
  return (
    <details class="card wf-json">
      <summary>{label}</summary>
      <pre>{JSON.stringify(value, null, 2)}</pre>
    </details>
  );
}

function Logs({ lines }: { lines: LogLine[] }) {
  if (lines.length === 0) return <Empty>{t('noLogs')}</Empty>;
  return (
    <div class="table-wrap">
      <table class="wf-stack" data-testid="logs">
        <thead>
          <tr>
            <th>{t('time')}</th>
            <th>{t('level')}</th>
            <th>{t('step')}</th>
            <th>{t('message')}</th>
          </tr>
        </thead>
        <tbody>
          {lines.map((l, i) => (
            <tr key={i} class={`wf-log-${l.level}`}>
              <td class="wf-nowrap" data-label={t('time')}>
                {formatTime(l.timestamp)}
              </td>
              <td data-label={t('level')}>
                <span class={`badge wf-level-${l.level}`}>{t(l.level === 'error' ? 'error' : l.level)}</span>
              </td>
              <td data-label={t('step')}>{l.stepIndex === null ? '—' : `${l.stepIndex + 1} · ${l.moduleId ?? ''}`}</td>
              <td class="wf-message wf-wide">
                {l.message}
                {l.details !== null && l.details !== undefined && (
                  <details>
                    <summary>{t('details')}</summary>
                    <pre>{JSON.stringify(l.details, null, 2)}</pre>
                  </details>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ExecutionView({ id, initial }: { id: string; initial: Execution }) {
  const [run, setRun] = useState(initial);
  const [level, setLevel] = useState('');
  const [onlyLog, setOnlyLog] = useState(false);
  const [lines, setLines] = useState<LogLine[]>([]);
  const [failure, setFailure] = useState<unknown>(null);
  const held = useRef<LogLine[]>([]);
  const running = run.status === 'running';

  // Reads the log (and, while it runs, the execution) now and then every second until it
  // ends; the end starts this again, reading the whole log once more with its last lines.
  useEffect(() => {
    let live = true;
    let timer = 0;
    held.current = [];
    const tick = async () => {
      try {
        const next = running ? await get<Execution>(`/api/v1/executions/${encodeURIComponent(id)}`) : null;
        const logs = await readLogs(id, level, held.current);
        if (!live) return;
        held.current = logs;
        setLines(logs);
        setFailure(null);
        if (next) setRun(next);
      } catch (error) {
        if (live) setFailure(error);
      }
      if (live && running) timer = window.setTimeout(tick, 1000);
    };
    void tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [id, level, running]);

  // Its end, as soon as the server records it: the effect above then reads the whole log.
  useLive(['execution_finished'], (message) => {
    if (message.data.executionId !== id) return;
    get<Execution>(`/api/v1/executions/${encodeURIComponent(id)}`).then(setRun, setFailure);
  });

  const stop = useAction(async () => {
    await post(`/api/v1/executions/${encodeURIComponent(id)}/stop`);
    setRun(await get<Execution>(`/api/v1/executions/${encodeURIComponent(id)}`));
  });
  const total = run.totalSteps ?? 0;
  return (
    <Page
      title={`${t('title')}: ${run.workflowName}`}
      actions={
        running && (
          <button type="button" class="danger" data-testid="stop" disabled={stop.busy} onClick={() => void stop.run()}>
            {stop.busy ? t('stopping') : t('stop')}
          </button>
        )
      }
    >
      <nav class="row wf-crumbs">
        <a href={`/workflows/${encodeURIComponent(run.workflowId)}`}>← {t('workflow')}</a>
        <a href="/workflows/executions">{t('all')}</a>
      </nav>
      <ErrorNote error={stop.error} />
      <div class="card">
        <dl class="facts">
          <dt>{t('status')}</dt>
          <dd data-testid="execution-status">
            <RunStatus status={run.status} />
          </dd>
          <dt>{t('started')}</dt>
          <dd>{formatTime(run.startedAt)}</dd>
          <dt>{t('ended')}</dt>
          <dd>{formatTime(run.completedAt)}</dd>
          <dt>{t('took')}</dt>
          <dd>{duration(run.duration)}</dd>
          <dt>{t('trigger')}</dt>
          <dd>{statusLabel(run.triggeredBy)}</dd>
        </dl>
        {running && total > 0 && (
          <>
            <p>{t('progress', { at: Math.min(total, (run.currentStepIndex ?? 0) + 1), total })}</p>
            <progress max={total} value={run.currentStepIndex ?? 0} />
          </>
        )}
        {run.error && (
          <p class="note error" role="alert">
            {t('error')}: {run.error}
          </p>
        )}
      </div>
      <div class="row spread wf-log-head">
        <h2>{t('logs')}</h2>
        <label class="row">
          <input type="checkbox" checked={onlyLog} data-testid="only-log" onChange={(e) => setOnlyLog(e.currentTarget.checked)} />
          {t('onlyLog')}
        </label>
        <Field label={t('level')}>
          {(fid) => (
            <select id={fid} value={level} onChange={(e) => setLevel(e.currentTarget.value)}>
              <option value="">{t('anyLevel')}</option>
              <option value="info">{t('info')}</option>
              <option value="warning">{t('warning')}</option>
              <option value="error">{t('error')}</option>
            </select>
          )}
        </Field>
      </div>
      {running && (
        <p class="muted" role="status">
          {t('live')}
        </p>
      )}
      <ErrorNote error={failure} />
      <Logs lines={onlyLog ? lines.filter(written) : lines} />
      <Json label={t('outputs')} value={run.outputs} />
      <Json label={t('variables')} value={run.variables} />
    </Page>
  );
}

export function ExecutionPage() {
  const { params } = useRoute();
  const run = useResource(() => get<Execution>(`/api/v1/executions/${encodeURIComponent(params.id)}`), [params.id]);
  if (!run.data) {
    return (
      <Page title={t('title')}>
        <Loaded resource={run}>{() => null}</Loaded>
      </Page>
    );
  }
  return <ExecutionView key={params.id} id={params.id} initial={run.data} />;
}
