// /machines/<host>: the host's state and actions, its VMs with live power states, new VMs,
// scanning for unknown VMs, the host's settings and removing it.
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { del, get, post, query } from '../../api';
import { formatNumber, messages } from '../../i18n';
import { Empty, ErrorNote, Loaded, Page, useAction, useResource } from '../../ui';
import { HostForm } from './host-form';
import { type HostPowerOutcome, type HostStatus, type HostView, type ScanResult, type VmView, consoleOpen, links, mib, paths } from './model';
import { ConfirmButton, PowerBadge, useEvery, useVmStatus } from './parts';
import { VmForm } from './vm-form';

const t = messages(
  {
    all: 'All hosts',
    status: 'Host status',
    hostname: 'Machine',
    cpu: 'CPU',
    cpuOf: '{usage}% of {total} cores',
    memory: 'Memory',
    disk: 'Disk',
    usedOf: '{used} of {total}',
    vms: 'VMs',
    runningOf: '{running} running of {total}',
    engine: 'Engine',
    accel: 'Acceleration',
    kvmMissing: '(no /dev/kvm)',
    maintenance: 'Maintenance',
    maintenanceOn: 'On: VMs cannot be created or started',
    maintenanceOff: 'Off',
    hostActions: 'Host actions',
    start_all: 'Start all VMs',
    shutdown_all: 'Shut down all VMs',
    stop_all: 'Power off all VMs',
    maintenance_on: 'Enter maintenance',
    maintenance_off: 'Leave maintenance',
    stopAllQuestion: 'Cut the power of every VM on this host?',
    done: '{action}: done.',
    vmList: 'Virtual machines',
    name: 'Name',
    id: 'Id',
    power: 'Power',
    size: 'Size',
    address: 'Address',
    console: 'Console',
    noVms: 'No VM on this host yet.',
    create: 'Create a VM',
    scan: 'Find unknown VMs',
    scanned: 'Adopted {adopted}, skipped {skipped}.',
    secretOf: 'Agent secret of {vm} (shown only now)',
    settings: 'Host settings',
    remove: 'Delete host',
    removeQuestion: 'Delete host {host}?',
    force: 'Also delete its VMs and their files',
    audit: 'Audit log',
    tasks: 'Task records',
    polling: 'States refresh every few seconds.',
  },
  {
    all: '全部主机',
    status: '主机状态',
    hostname: '机器',
    cpu: 'CPU',
    cpuOf: '{total} 核，使用 {usage}%',
    memory: '内存',
    disk: '磁盘',
    usedOf: '已用 {used} / 共 {total}',
    vms: '虚拟机',
    runningOf: '{total} 台，运行中 {running} 台',
    engine: '引擎',
    accel: '加速',
    kvmMissing: '（无 /dev/kvm）',
    maintenance: '维护模式',
    maintenanceOn: '开启：不能创建或启动虚拟机',
    maintenanceOff: '关闭',
    hostActions: '主机操作',
    start_all: '启动全部虚拟机',
    shutdown_all: '关闭全部虚拟机',
    stop_all: '强制断电全部虚拟机',
    maintenance_on: '进入维护模式',
    maintenance_off: '退出维护模式',
    stopAllQuestion: '确定对本主机上所有虚拟机强制断电？',
    done: '{action}：已完成。',
    vmList: '虚拟机列表',
    name: '名称',
    id: 'ID',
    power: '电源',
    size: '配置',
    address: '地址',
    console: '控制台',
    noVms: '这台主机上还没有虚拟机。',
    create: '创建虚拟机',
    scan: '查找未登记的虚拟机',
    scanned: '已接管 {adopted} 台，跳过 {skipped} 台。',
    secretOf: '{vm} 的 Agent 密钥（仅此一次显示）',
    settings: '主机设置',
    remove: '删除主机',
    removeQuestion: '确定删除主机 {host}？',
    force: '同时删除其虚拟机及文件',
    audit: '审计日志',
    tasks: '任务记录',
    polling: '状态每隔几秒自动刷新。',
  },
);

type HostAction = 'start_all' | 'shutdown_all' | 'stop_all' | 'maintenance_on' | 'maintenance_off';

function Status({ status }: { status: HostStatus }) {
  return (
    <dl class="facts" data-testid="host-status">
      <dt>{t('hostname')}</dt>
      <dd>{status.hostname}</dd>
      <dt>{t('cpu')}</dt>
      <dd>
        {status.cpu_model} · {t('cpuOf', { usage: status.cpu_usage.toFixed(0), total: status.cpu_total })}
      </dd>
      <dt>{t('memory')}</dt>
      <dd>{t('usedOf', { used: mib(status.mem_usage), total: mib(status.mem_total) })}</dd>
      <dt>{t('disk')}</dt>
      <dd>{t('usedOf', { used: mib(status.hdd_usage), total: mib(status.hdd_total) })}</dd>
      <dt>{t('vms')}</dt>
      <dd>{t('runningOf', { running: formatNumber(status.running_vm_count), total: formatNumber(status.vm_count) })}</dd>
      <dt>{t('engine')}</dt>
      <dd>{[status.engine, status.engine_version].filter(Boolean).join(' ')}</dd>
      <dt>{t('accel')}</dt>
      <dd>
        {status.accel ?? '—'} {!status.kvm_device && <span class="muted">{t('kvmMissing')}</span>}
      </dd>
      <dt>{t('maintenance')}</dt>
      <dd>{status.maintenance ? t('maintenanceOn') : t('maintenanceOff')}</dd>
    </dl>
  );
}

function HostActions({ host, maintenance, onDone }: { host: string; maintenance: boolean; onDone: () => void }) {
  const [outcome, setOutcome] = useState<HostPowerOutcome | null>(null);
  const act = useAction(async (action: HostAction) => {
    setOutcome(null);
    setOutcome(await post<HostPowerOutcome>(paths.server('powers', host), { action }));
    onDone();
  });
  const button = (action: HostAction) => (
    <button type="button" disabled={act.busy} onClick={() => void act.run(action)} data-testid={`host-${action}`}>
      {t(action)}
    </button>
  );
  const failed = outcome?.results.filter((r) => !r.success) ?? [];
  return (
    <div>
      <div class="actions">
        {button('start_all')}
        {button('shutdown_all')}
        <ConfirmButton label={t('stop_all')} question={t('stopAllQuestion')} busy={act.busy} onConfirm={() => void act.run('stop_all')} />
        {button(maintenance ? 'maintenance_off' : 'maintenance_on')}
      </div>
      <ErrorNote error={act.error} />
      {outcome && failed.length === 0 && (
        <p class="note ok" role="status">
          {t('done', { action: t(outcome.action as HostAction) })}
        </p>
      )}
      {failed.map((r) => (
        <p class="note error" role="alert" key={r.vm_uuid}>
          {r.vm_uuid}: {r.message}
        </p>
      ))}
    </div>
  );
}

function ipOf(vm: VmView): string {
  return Object.values(vm.nic_all)
    .map((nic) => nic.ip4_addr)
    .filter(Boolean)
    .join(', ');
}

function VmTable({ host, vms }: { host: string; vms: VmView[] }) {
  if (vms.length === 0) return <Empty>{t('noVms')}</Empty>;
  return (
    <div class="table-wrap">
      <table data-testid="vm-list">
        <thead>
          <tr>
            <th>{t('name')}</th>
            <th>{t('power')}</th>
            <th>{t('size')}</th>
            <th>{t('address')}</th>
            <th>{t('id')}</th>
            <th>
              <span class="sr-only">{t('console')}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {vms.map((vm) => (
            <tr key={vm.vm_uuid} data-testid="vm-row" data-vm={vm.vm_uuid}>
              <td>
                <a href={links.vm(host, vm.vm_uuid)} data-testid="vm-link">
                  {vm.vm_name || vm.vm_uuid}
                </a>
              </td>
              <td>
                <PowerBadge power={vm.power} />
              </td>
              <td>
                {vm.cpu_num} vCPU · {mib(vm.mem_num)}
                {vm.hdd_num > 0 && ` · ${mib(vm.hdd_num)}`}
              </td>
              <td>{ipOf(vm) || '—'}</td>
              <td class="path">{vm.vm_uuid}</td>
              <td>{consoleOpen(vm.power) && <a href={links.console(host, vm.vm_uuid)}>{t('console')}</a>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Scan({ host, onDone }: { host: string; onDone: () => void }) {
  const [result, setResult] = useState<ScanResult | null>(null);
  const scan = useAction(async () => {
    setResult(await post<ScanResult>(paths.client('scaner', host)));
    onDone();
  });
  return (
    <div class="scan">
      <button type="button" disabled={scan.busy} onClick={() => void scan.run()}>
        {t('scan')}
      </button>
      <ErrorNote error={scan.error} />
      {result && (
        <div class="note ok" role="status">
          <div>
            <p>{t('scanned', { adopted: result.adopted.length, skipped: result.skipped.length })}</p>
            {result.adopted.map((a) => (
              <p key={a.vm.vm_uuid}>
                {t('secretOf', { vm: a.vm.vm_uuid })}: <code class="secret">{a.agent_secret}</code>
              </p>
            ))}
            {result.skipped.map((s) => (
              <p key={s.vm_uuid} class="muted">
                {s.vm_uuid}: {s.message}
              </p>
            ))}
          </div>
        </div>
      )}
    </div>
  );
}

function Remove({ host }: { host: string }) {
  const { route } = useLocation();
  const [force, setForce] = useState(false);
  const remove = useAction(async () => {
    await del(paths.server('delete', host) + query({ force: force || undefined }));
    route(links.home);
  });
  return (
    <div>
      <ConfirmButton label={t('remove')} question={t('removeQuestion', { host })} busy={remove.busy} onConfirm={() => void remove.run()} testid="host-delete">
        <label class="check">
          <input type="checkbox" checked={force} onChange={(e) => setForce(e.currentTarget.checked)} />
          {t('force')}
        </label>
      </ConfirmButton>
      <ErrorNote error={remove.error} />
    </div>
  );
}

export function Host({ host }: { host: string }) {
  const detail = useResource(() => get<HostView>(paths.server('detail', host)), [host]);
  const status = useResource(() => get<HostStatus>(paths.server('status', host)), [host]);
  const vms = useResource(() => get<VmView[]>(paths.client('listup', host)), [host]);
  // Power changes arrive live; the poll catches everything else (names, addresses).
  useVmStatus(host, null, vms.reload);
  useEvery(10000, vms.reload);
  useEvery(10000, status.reload);
  const refresh = () => {
    vms.reload();
    status.reload();
    detail.reload();
  };
  if (detail.error) {
    return (
      <Page title={host}>
        <ErrorNote error={detail.error} onRetry={detail.reload} />
        <a href={links.home}>{t('all')}</a>
      </Page>
    );
  }
  return (
    <Page
      title={host}
      actions={
        <>
          <a href={links.home}>{t('all')}</a>
          <a href={links.audit + query({ hs_name: host })}>{t('audit')}</a>
          <a href={links.tasks + query({ hs_name: host })}>{t('tasks')}</a>
        </>
      }
    >
      <div class="grid two">
        <section class="card" aria-labelledby="host-status-title">
          <h2 id="host-status-title">{t('status')}</h2>
          <Loaded resource={status}>{(s) => <Status status={s} />}</Loaded>
        </section>
        <section class="card" aria-labelledby="host-actions-title">
          <h2 id="host-actions-title">{t('hostActions')}</h2>
          <HostActions host={host} maintenance={status.data?.maintenance ?? detail.data?.maintenance ?? false} onDone={refresh} />
          <Scan host={host} onDone={refresh} />
        </section>
      </div>
      <div class="row spread">
        <h2>{t('vmList')}</h2>
        <span class="muted">{t('polling')}</span>
      </div>
      {vms.data ? (
        <>
          <ErrorNote error={vms.error} />
          <VmTable host={host} vms={vms.data} />
        </>
      ) : (
        <Loaded resource={vms}>{() => null}</Loaded>
      )}
      <details class="card add">
        <summary>{t('create')}</summary>
        <VmForm host={host} onSaved={() => vms.reload()} />
      </details>
      <details class="card add">
        <summary>{t('settings')}</summary>
        {detail.data && <HostForm host={detail.data} onSaved={(h) => detail.set(h)} />}
        <div class="danger-zone">
          <Remove host={host} />
        </div>
      </details>
    </Page>
  );
}
