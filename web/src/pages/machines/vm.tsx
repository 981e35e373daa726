// /machines/<host>/<vm>: one VM's live state and power, its console, settings, network and
// removal.
import { useLocation } from 'preact-iso';
import { del, get, query } from '../../api';
import { formatTime, messages } from '../../i18n';
import { ErrorNote, Loaded, Page, useAction, useResource } from '../../ui';
import { type VmStatus, type VmView, consoleOpen, links, mib, paths } from './model';
import { Network } from './network';
import { ConfirmButton, PowerBadge, useEvery, useVmStatus } from './parts';
import { PowerButtons } from './power';
import { VmForm } from './vm-form';

const t = messages(
  {
    host: 'Host {host}',
    state: 'State',
    qemu: 'QEMU state',
    pid: 'Process',
    uptime: 'Up for',
    hours: '{h} h {m} min',
    minutes: '{m} min {s} s',
    seconds: '{s} s',
    cpu: 'CPU',
    cpuUse: '{usage}% of {count} vCPU',
    memory: 'Memory',
    disk: 'Disk',
    usedOf: '{used} of {total}',
    pending: 'On next boot',
    message: 'Message',
    agent: 'Agent report',
    never: 'never',
    console: 'Open console',
    consoleHint: 'The console opens while the VM runs.',
    settings: 'Settings',
    network: 'Network',
    remove: 'Delete VM',
    removeQuestion: 'Delete {vm}? It is powered off and its files are removed.',
    audit: 'Audit log',
    tasks: 'Task records',
  },
  {
    host: '主机 {host}',
    state: '状态',
    qemu: 'QEMU 状态',
    pid: '进程',
    uptime: '已运行',
    hours: '{h} 小时 {m} 分',
    minutes: '{m} 分 {s} 秒',
    seconds: '{s} 秒',
    cpu: 'CPU',
    cpuUse: '{count} 个 vCPU，使用 {usage}%',
    memory: '内存',
    disk: '磁盘',
    usedOf: '已用 {used} / 共 {total}',
    pending: '下次启动生效',
    message: '消息',
    agent: 'Agent 上报',
    never: '从未',
    console: '打开控制台',
    consoleHint: '虚拟机运行时可打开控制台。',
    settings: '设置',
    network: '网络',
    remove: '删除虚拟机',
    removeQuestion: '确定删除 {vm}？它将被断电，文件将被删除。',
    audit: '审计日志',
    tasks: '任务记录',
  },
);

/** Seconds as "1 h 2 min", "3 min 4 s" or "5 s". */
function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return t('hours', { h, m });
  return m > 0 ? t('minutes', { m, s }) : t('seconds', { s });
}

function StatusFacts({ status }: { status: VmStatus }) {
  return (
    <dl class="facts vm-facts" data-testid="vm-status">
      <dt>{t('state')}</dt>
      <dd>
        <PowerBadge power={status.power} />
      </dd>
      {status.qemu_status && (
        <>
          <dt>{t('qemu')}</dt>
          <dd>{status.qemu_status}</dd>
        </>
      )}
      {status.pid !== null && (
        <>
          <dt>{t('pid')}</dt>
          <dd>
            {status.pid}
            {status.accel && ` · ${status.accel}`}
          </dd>
        </>
      )}
      {status.uptime_s !== null && (
        <>
          <dt>{t('uptime')}</dt>
          <dd>{duration(status.uptime_s)}</dd>
        </>
      )}
      <dt>{t('cpu')}</dt>
      <dd>{t('cpuUse', { usage: status.cpu_usage.toFixed(0), count: status.cpu_num })}</dd>
      <dt>{t('memory')}</dt>
      <dd>{t('usedOf', { used: mib(status.mem_usage), total: mib(status.mem_total) })}</dd>
      <dt>{t('disk')}</dt>
      <dd>{t('usedOf', { used: mib(status.hdd_usage), total: mib(status.hdd_total) })}</dd>
      {status.pending.length > 0 && (
        <>
          <dt>{t('pending')}</dt>
          <dd>{status.pending.join(', ')}</dd>
        </>
      )}
      {status.message && (
        <>
          <dt>{t('message')}</dt>
          <dd>{status.message}</dd>
        </>
      )}
      <dt>{t('agent')}</dt>
      <dd>{status.reported_at ? formatTime(status.reported_at) : t('never')}</dd>
    </dl>
  );
}

function Remove({ host, vm, name }: { host: string; vm: string; name: string }) {
  const { route } = useLocation();
  const remove = useAction(async () => {
    await del(paths.client('delete', host, vm));
    route(links.host(host));
  });
  return (
    <div>
      <ConfirmButton label={t('remove')} question={t('removeQuestion', { vm: name })} busy={remove.busy} onConfirm={() => void remove.run()} testid="vm-delete" />
      <ErrorNote error={remove.error} />
    </div>
  );
}

export function Vm({ host, vm }: { host: string; vm: string }) {
  const detail = useResource(() => get<VmView>(paths.client('detail', host, vm)), [host, vm]);
  const status = useResource(() => get<VmStatus>(paths.client('status', host, vm)), [host, vm]);
  useVmStatus(host, vm, status.reload);
  useEvery(10000, status.reload);
  const name = detail.data ? detail.data.vm_name || detail.data.vm_uuid : vm;
  const power = status.data?.power ?? detail.data?.power ?? 'UNKNOWN';
  return (
    <Page
      title={name}
      actions={
        <>
          <a href={links.host(host)}>{t('host', { host })}</a>
          <a href={links.audit + query({ hs_name: host, vm_uuid: vm })}>{t('audit')}</a>
          <a href={links.tasks + query({ hs_name: host, vm_uuid: vm })}>{t('tasks')}</a>
        </>
      }
    >
      <section class="card">
        <div class="row spread">
          <PowerButtons host={host} vm={vm} power={power} onDone={(s) => status.set(s)} />
          {consoleOpen(power) ? (
            <a class="button primary" href={links.console(host, vm)} data-testid="vm-console">
              {t('console')}
            </a>
          ) : (
            <span class="muted">{t('consoleHint')}</span>
          )}
        </div>
        {status.data ? (
          <>
            <ErrorNote error={status.error} />
            <StatusFacts status={status.data} />
          </>
        ) : (
          <Loaded resource={status}>{() => null}</Loaded>
        )}
      </section>
      <Loaded resource={detail}>
        {(data) => (
          <>
            <h2>{t('network')}</h2>
            <Network host={host} vm={vm} />
            <details class="card add">
              <summary>{t('settings')}</summary>
              <VmForm host={host} vm={data} onSaved={(v) => detail.set(v)} />
            </details>
            <div class="danger-zone">
              <Remove host={host} vm={vm} name={name} />
            </div>
          </>
        )}
      </Loaded>
    </Page>
  );
}
