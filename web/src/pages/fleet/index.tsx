// The fleet dashboard (/fleet, admins): every ComfyUI instance with its state, current task,
// models and last heartbeat; the queue's counts and throughput; and the fleet settings.
// The live socket keeps it current: global_status carries the counts and every instance,
// instance_status one instance's state, task messages move the current tasks.
import { useEffect } from 'preact/hooks';
import { formatNumber, formatTime, messages } from '../../i18n';
import { useLive } from '../../live';
import type { LiveMessage } from '../../live';
import { Empty, Loaded, Page, useResource } from '../../ui';
import { AdminOnly, Badge, useThrottled } from './common';
import { instances, overview, tasks } from './model';
import type { Instance, Overview, Task } from './model';
import { Servers } from './servers';
import { Settings } from './settings';

const t = messages(
  {
    title: 'Fleet',
    instances: 'Instances',
    aliveTitle: 'Instances alive',
    busyCount: 'Busy: {n}',
    queue: 'Waiting in the queue',
    runningCount: 'Running: {n}',
    completed: 'Completed',
    endedCount: 'Failed: {failed} · Cancelled: {cancelled}',
    throughput: 'Throughput',
    perHour: 'completed in the last hour',
    instance: 'Instance',
    server: 'Server',
    state: 'State',
    current: 'Current task',
    load: 'Tasks held / ComfyUI queue',
    models: 'Models',
    modelCount: '{n} models',
    heartbeat: 'Last heartbeat',
    none: 'No instances yet: add a server below.',
    settings: 'Fleet settings',
  },
  {
    title: '算力集群',
    instances: '实例',
    aliveTitle: '在线实例',
    busyCount: '忙碌：{n}',
    queue: '队列等待',
    runningCount: '运行中：{n}',
    completed: '已完成',
    endedCount: '失败：{failed} · 已取消：{cancelled}',
    throughput: '吞吐量',
    perHour: '近一小时完成',
    instance: '实例',
    server: '服务器',
    state: '状态',
    current: '当前任务',
    load: '持有任务 / ComfyUI 队列',
    models: '模型',
    modelCount: '{n} 个模型',
    heartbeat: '最近心跳',
    none: '还没有实例：请在下方添加服务器。',
    settings: '集群设置',
  },
);

function Counts({ counts }: { counts: Overview }) {
  return (
    <div class="grid cards fleet-counts" data-testid="fleet-overview">
      <div class="card">
        <h2>{t('aliveTitle')}</h2>
        <p class="big" data-testid="alive-count">
          {formatNumber(counts.aliveInstances)} / {formatNumber(counts.totalInstances)}
        </p>
        <p class="muted">{t('busyCount', { n: formatNumber(counts.busyInstances) })}</p>
      </div>
      <div class="card">
        <h2>{t('queue')}</h2>
        <p class="big" data-testid="queue-depth">
          {formatNumber(counts.pendingTasks)}
        </p>
        <p class="muted">{t('runningCount', { n: formatNumber(counts.runningTasks) })}</p>
      </div>
      <div class="card">
        <h2>{t('completed')}</h2>
        <p class="big">{formatNumber(counts.completedTasks)}</p>
        <p class="muted">{t('endedCount', { failed: formatNumber(counts.failedTasks), cancelled: formatNumber(counts.cancelledTasks) })}</p>
      </div>
      <div class="card">
        <h2>{t('throughput')}</h2>
        <p class="big" data-testid="throughput">
          {formatNumber(counts.completedLastHour)}
        </p>
        <p class="muted">{t('perHour')}</p>
      </div>
    </div>
  );
}

function InstanceRow({ instance, current }: { instance: Instance; current: Task[] }) {
  return (
    <tr data-testid="instance-row" data-instance={instance.id}>
      <td>
        <strong>{instance.id}</strong>
      </td>
      <td>{instance.serverName}</td>
      <td>
        <div class="row fleet-states">
          <Badge state={instance.alive ? 'alive' : 'dead'} testid="instance-alive" />
          {instance.alive && <Badge state={instance.busy ? 'busy' : 'idle'} />}
          {!instance.enabled && <Badge state="disabled" />}
        </div>
      </td>
      <td>
        {current.length === 0
          ? '—'
          : current.map((task) => (
              <div key={task.id} class="fleet-task">
                <code title={task.id}>{task.id.slice(0, 8)}</code>
                <progress max={100} value={task.progress} aria-label={`${task.id} ${task.progress}%`} />
              </div>
            ))}
      </td>
      <td class="num">
        {formatNumber(instance.activeTasks)} / {formatNumber(instance.queueRemaining)}
      </td>
      <td>
        {instance.models.length === 0 ? (
          '—'
        ) : (
          <details>
            <summary>{t('modelCount', { n: instance.models.length })}</summary>
            <ul class="fleet-models">
              {instance.models.map((model) => (
                <li key={model}>{model}</li>
              ))}
            </ul>
          </details>
        )}
      </td>
      <td>{formatTime(instance.lastHeartbeat)}</td>
    </tr>
  );
}

function Instances({ list, running }: { list: Instance[]; running: Task[] }) {
  if (list.length === 0) return <Empty>{t('none')}</Empty>;
  return (
    <div class="table-wrap">
      <table class="fleet-table" data-testid="instances">
        <thead>
          <tr>
            <th>{t('instance')}</th>
            <th>{t('server')}</th>
            <th>{t('state')}</th>
            <th>{t('current')}</th>
            <th class="num">{t('load')}</th>
            <th>{t('models')}</th>
            <th>{t('heartbeat')}</th>
          </tr>
        </thead>
        <tbody>
          {list.map((instance) => (
            <InstanceRow key={instance.id} instance={instance} current={running.filter((task) => task.instanceId === instance.id)} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The overview's counts out of a global_status message (which also lists every instance). */
function countsOf(data: Record<string, unknown>): Overview | null {
  const keys: (keyof Overview)[] = ['totalInstances', 'aliveInstances', 'busyInstances', 'pendingTasks', 'runningTasks', 'completedTasks', 'failedTasks', 'cancelledTasks', 'completedLastHour'];
  if (!keys.every((key) => typeof data[key] === 'number')) return null;
  return Object.fromEntries(keys.map((key) => [key, data[key]])) as unknown as Overview;
}

/** Heartbeats move without a live message; the list is refreshed this often besides. */
const HEARTBEAT_REFRESH_MS = 15_000;

function Dashboard() {
  const list = useResource(instances);
  const counts = useResource(overview);
  const running = useResource(() => tasks({ status: 'running', limit: 100, offset: 0 }));
  const refetchInstances = useThrottled(list.reload, 1000);
  const refetchCounts = useThrottled(counts.reload, 1000);
  const refetchRunning = useThrottled(running.reload, 1000);

  useEffect(() => {
    const timer = window.setInterval(refetchInstances, HEARTBEAT_REFRESH_MS);
    return () => window.clearInterval(timer);
  }, []);

  useLive(['global_status', 'instance_status', 'task_progress', 'task_completed', 'task_failed'], (message: LiveMessage) => {
    const data = message.data ?? {};
    switch (message.type) {
      case 'global_status': {
        const next = countsOf(data);
        if (next) counts.set(next);
        else refetchCounts();
        if (Array.isArray(data.instances)) list.set(data.instances as Instance[]);
        else refetchInstances();
        refetchRunning();
        break;
      }
      case 'instance_status': {
        const id = data.instanceId;
        const known = list.data?.find((instance) => instance.id === id);
        if (known && typeof data.alive === 'boolean' && typeof data.busy === 'boolean') {
          list.set(list.data!.map((instance) => (instance === known ? { ...instance, alive: data.alive as boolean, busy: data.busy as boolean } : instance)));
        }
        // The message has no heartbeat, models or load: fetch them (and any new instance).
        refetchInstances();
        refetchCounts();
        break;
      }
      case 'task_progress': {
        const task = running.data?.items.find((item) => item.id === data.taskId);
        if (task && typeof data.progress === 'number') {
          const items = running.data!.items.map((item) => (item === task ? { ...item, progress: data.progress as number } : item));
          running.set({ ...running.data!, items });
        } else refetchRunning();
        break;
      }
      default:
        refetchRunning();
        refetchCounts();
    }
  });

  return (
    <>
      <Loaded resource={counts}>{(data) => <Counts counts={data} />}</Loaded>
      <h2>{t('instances')}</h2>
      <Loaded resource={list}>{(data) => <Instances list={data} running={running.data?.items ?? []} />}</Loaded>
      <h2>{t('settings')}</h2>
      <Servers onChange={refetchInstances} />
      <Settings />
    </>
  );
}

export function Fleet() {
  return (
    <Page title={t('title')}>
      <AdminOnly>
        <Dashboard />
      </AdminOnly>
    </Page>
  );
}
