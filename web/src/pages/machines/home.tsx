// /machines: the counts, every host, and adding one.
import { useLocation } from 'preact-iso';
import { get } from '../../api';
import { formatNumber, messages } from '../../i18n';
import { Empty, Loaded, Page, useResource } from '../../ui';
import { HostForm } from './host-form';
import { type HostView, type Statis, links, paths } from './model';
import { useEvery } from './parts';

const t = messages(
  {
    title: 'Virtual machines',
    hosts: 'Hosts',
    vms: 'VMs',
    running: 'Running',
    maintenance: 'In maintenance',
    nat: 'NAT rules',
    proxies: 'Proxy routes',
    tasks: 'Running tasks',
    audit: 'Audit log',
    taskList: 'Task records',
    host: 'Host',
    engine: 'Engine',
    vmCount: 'VMs',
    ports: 'NAT ports',
    images: 'Images folder',
    state: 'State',
    inMaintenance: 'maintenance',
    active: 'active',
    noHosts: 'No host yet. Add one below to create virtual machines on it.',
    add: 'Add a host',
  },
  {
    title: '虚拟机',
    hosts: '主机',
    vms: '虚拟机',
    running: '运行中',
    maintenance: '维护中',
    nat: 'NAT 规则',
    proxies: '反向代理',
    tasks: '进行中的任务',
    audit: '审计日志',
    taskList: '任务记录',
    host: '主机',
    engine: '引擎',
    vmCount: '虚拟机数',
    ports: 'NAT 端口',
    images: '镜像目录',
    state: '状态',
    inMaintenance: '维护中',
    active: '正常',
    noHosts: '还没有主机。在下方添加一台后即可在其上创建虚拟机。',
    add: '添加主机',
  },
);

function Counts() {
  const statis = useResource(() => get<Statis>('/api/system/statis'));
  useEvery(5000, statis.reload);
  return (
    <Loaded resource={statis}>
      {(s) => (
        <dl class="machine-counts">
          {(
            [
              ['hosts', s.host_count],
              ['vms', s.vm_count],
              ['running', s.running_vm_count],
              ['maintenance', s.maintenance_host_count],
              ['nat', s.nat_rule_count],
              ['proxies', s.proxy_count],
              ['tasks', s.running_task_count],
            ] as const
          ).map(([key, value]) => (
            <div class="card" key={key}>
              <dt class="muted">{t(key)}</dt>
              <dd class="big">{formatNumber(value)}</dd>
            </div>
          ))}
        </dl>
      )}
    </Loaded>
  );
}

export function Home() {
  const { route } = useLocation();
  const hosts = useResource(() => get<HostView[]>(paths.server('listup')));
  return (
    <Page
      title={t('title')}
      actions={
        <>
          <a href={links.audit}>{t('audit')}</a>
          <a href={links.tasks}>{t('taskList')}</a>
        </>
      }
    >
      <Counts />
      <h2>{t('hosts')}</h2>
      <Loaded resource={hosts}>
        {(list) =>
          list.length === 0 ? (
            <Empty>{t('noHosts')}</Empty>
          ) : (
            <div class="table-wrap">
              <table data-testid="host-list">
                <thead>
                  <tr>
                    <th>{t('host')}</th>
                    <th>{t('engine')}</th>
                    <th class="num">{t('vmCount')}</th>
                    <th>{t('ports')}</th>
                    <th>{t('images')}</th>
                    <th>{t('state')}</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((h) => (
                    <tr key={h.hs_name}>
                      <td>
                        <a href={links.host(h.hs_name)} data-testid="host-link" data-host={h.hs_name}>
                          {h.hs_name}
                        </a>
                      </td>
                      <td>{h.server_type}</td>
                      <td class="num">{formatNumber(h.vm_count)}</td>
                      <td>
                        {h.ports_start}–{h.ports_close}
                      </td>
                      <td class="path">{h.images_path || '—'}</td>
                      <td>
                        <span class={`badge status-${h.maintenance ? 'paused' : 'enabled'}`}>{h.maintenance ? t('inMaintenance') : t('active')}</span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
      <details class="card add" open={hosts.data?.length === 0}>
        <summary>{t('add')}</summary>
        <HostForm onSaved={(host) => route(links.host(host.hs_name))} />
      </details>
    </Page>
  );
}
