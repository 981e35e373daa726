// A VM's network editors: NAT port forwards, IPv4 addresses and reverse-proxy routes. Each
// lists the server's rules and removes one by its place in that list, as the routes take it.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { del, get, post } from '../../api';
import { messages } from '../../i18n';
import { Empty, ErrorNote, Field, Loaded, useAction, useResource } from '../../ui';
import { type IpChanged, type IpEntry, type PortData, type WebProxy, numberOr, paths } from './model';
import { Input } from './parts';

const PORTS: [number, number] = [1, 65535];

const t = messages(
  {
    nat: 'NAT port forwards',
    protocol: 'Protocol',
    wanPort: 'Host port',
    wanHint: 'Inside the host’s NAT range; empty picks a free one.',
    lanPort: 'VM port',
    lanAddr: 'VM address',
    lanAddrHint: 'Empty for the VM’s first address.',
    note: 'Note',
    addNat: 'Add forward',
    noNat: 'No port is forwarded.',
    ips: 'IPv4 addresses',
    nic: 'Interface',
    nicHint: 'Empty for the first one without an address, or a new one.',
    address: 'Address',
    netmask: 'Netmask',
    netmaskHint: 'Empty for 255.255.255.0.',
    gateway: 'Gateway',
    gatewayHint: 'Empty for the network’s .2.',
    mac: 'MAC',
    addIp: 'Add address',
    noIps: 'No address is set; the engine’s default applies.',
    ipPending: 'The running guest gets this change on its next boot.',
    proxies: 'Reverse-proxy routes',
    domain: 'Domain',
    domainHint: 'Requests with this Host header (any port) reach the VM.',
    path: 'Path prefix',
    pathHint: 'Empty for every path.',
    via: 'Through host port',
    addProxy: 'Add route',
    noProxies: 'No route reaches this VM.',
    remove: 'Remove',
    removeLabel: 'Remove {what}',
  },
  {
    nat: 'NAT 端口转发',
    protocol: '协议',
    wanPort: '主机端口',
    wanHint: '在主机的 NAT 端口范围内；留空自动选择空闲端口。',
    lanPort: '虚拟机端口',
    lanAddr: '虚拟机地址',
    lanAddrHint: '留空使用虚拟机的第一个地址。',
    note: '备注',
    addNat: '添加转发',
    noNat: '没有端口转发。',
    ips: 'IPv4 地址',
    nic: '网卡',
    nicHint: '留空则使用第一块未设地址的网卡，或新建一块。',
    address: '地址',
    netmask: '子网掩码',
    netmaskHint: '留空为 255.255.255.0。',
    gateway: '网关',
    gatewayHint: '留空为该网段的 .2。',
    mac: 'MAC',
    addIp: '添加地址',
    noIps: '未设置地址，使用引擎默认值。',
    ipPending: '运行中的客户机将在下次启动时获得此变更。',
    proxies: '反向代理',
    domain: '域名',
    domainHint: 'Host 头为此域名（任意端口）的请求将转发到虚拟机。',
    path: '路径前缀',
    pathHint: '留空表示所有路径。',
    via: '经由主机端口',
    addProxy: '添加路由',
    noProxies: '没有路由指向此虚拟机。',
    remove: '删除',
    removeLabel: '删除 {what}',
  },
);

/** One editor: a titled card with the list, a remove button per row and the add form. */
function Editor<T>({
  title,
  testid,
  load,
  empty,
  head,
  row,
  label,
  remove,
  form,
}: {
  title: string;
  testid: string;
  load: () => Promise<T[]>;
  empty: string;
  head: string[];
  row: (item: T) => ComponentChildren[];
  label: (item: T) => string;
  remove: (index: number) => Promise<unknown>;
  form: (added: () => void) => ComponentChildren;
}) {
  const list = useResource(load);
  const removing = useAction(async (index: number) => {
    await remove(index);
    list.reload();
  });
  return (
    <section class="card" data-testid={testid}>
      <h2>{title}</h2>
      <Loaded resource={list}>
        {(items) =>
          items.length === 0 ? (
            <Empty>{empty}</Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    {head.map((h) => (
                      <th key={h}>{h}</th>
                    ))}
                    <th>
                      <span class="sr-only">{t('remove')}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((item, index) => (
                    <tr key={index}>
                      {row(item).map((cell, i) => (
                        <td key={i}>{cell}</td>
                      ))}
                      <td>
                        <button type="button" class="link" disabled={removing.busy} aria-label={t('removeLabel', { what: label(item) })} onClick={() => void removing.run(index)}>
                          {t('remove')}
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
      <ErrorNote error={removing.error} />
      {form(list.reload)}
    </section>
  );
}

/** A small add form: `fields` laid out in a row, the submit button after them. */
function AddForm({ submit, label, children, note }: { submit: () => Promise<unknown>; label: string; children: ComponentChildren; note?: string | null }) {
  const add = useAction(submit);
  return (
    <form
      class="add-rule"
      onSubmit={(e) => {
        e.preventDefault();
        void add.run();
      }}
    >
      <div class="grid fields">{children}</div>
      <ErrorNote error={add.error} />
      {note && (
        <p class="note ok" role="status">
          {note}
        </p>
      )}
      <button type="submit" disabled={add.busy}>
        {label}
      </button>
    </form>
  );
}

function NatEditor({ host, vm }: { host: string; vm: string }) {
  const empty = { protocol: 'tcp', wan_port: '', lan_port: '', lan_addr: '', nat_tips: '' };
  const [rule, setRule] = useState(empty);
  const text = (key: 'wan_port' | 'lan_port' | 'lan_addr' | 'nat_tips', label: string, hint?: string, required = false) => (
    <Field label={label} hint={hint}>
      {(id) => (
        <Input id={id} range={key.endsWith('port') ? PORTS : undefined} required={required} value={rule[key]} onValue={(v) => setRule({ ...rule, [key]: v })} testid={`nat-${key}`} />
      )}
    </Field>
  );
  return (
    <Editor<PortData>
      title={t('nat')}
      testid="nat-editor"
      load={() => get(paths.client('natget', host, vm))}
      empty={t('noNat')}
      head={[t('protocol'), t('wanPort'), t('lanPort'), t('lanAddr'), t('note')]}
      row={(r) => [r.protocol, r.wan_port, r.lan_port, r.lan_addr || '—', r.nat_tips]}
      label={(r) => `${r.protocol} ${r.wan_port} → ${r.lan_port}`}
      remove={(i) => del(paths.client('natdel', host, vm, i))}
      form={(added) => (
        <AddForm
          label={t('addNat')}
          submit={async () => {
            await post(paths.client('natadd', host, vm), {
              protocol: rule.protocol,
              wan_port: numberOr(rule.wan_port) ?? 0,
              lan_port: numberOr(rule.lan_port),
              lan_addr: rule.lan_addr.trim(),
              nat_tips: rule.nat_tips.trim(),
            });
            setRule(empty);
            added();
          }}
        >
          <Field label={t('protocol')}>
            {(id) => (
              <select id={id} value={rule.protocol} onChange={(e) => setRule({ ...rule, protocol: e.currentTarget.value })}>
                <option value="tcp">TCP</option>
                <option value="udp">UDP</option>
              </select>
            )}
          </Field>
          {text('wan_port', t('wanPort'), t('wanHint'))}
          {text('lan_port', t('lanPort'), undefined, true)}
          {text('lan_addr', t('lanAddr'), t('lanAddrHint'))}
          {text('nat_tips', t('note'))}
        </AddForm>
      )}
    />
  );
}

function IpEditor({ host, vm }: { host: string; vm: string }) {
  const empty = { address: '', netmask: '', gateway: '', nic: '' };
  const [ip, setIp] = useState(empty);
  const [pending, setPending] = useState(false);
  const text = (key: keyof typeof empty, label: string, hint?: string) => (
    <Field label={label} hint={hint}>
      {(id) => <Input id={id} required={key === 'address'} value={ip[key]} onValue={(v) => setIp({ ...ip, [key]: v })} testid={`ip-${key}`} />}
    </Field>
  );
  const changed = (answer: IpChanged) => setPending(answer.pending);
  return (
    <Editor<IpEntry>
      title={t('ips')}
      testid="ip-editor"
      load={() => get(paths.client('iplist', host, vm))}
      empty={t('noIps')}
      head={[t('nic'), t('address'), t('netmask'), t('gateway'), t('mac')]}
      row={(e) => [e.nic, e.address, e.netmask, e.gateway, e.mac_addr]}
      label={(e) => e.address}
      remove={async (i) => changed(await del<IpChanged>(paths.client('ipdel_', host, vm, i)))}
      form={(added) => (
        <AddForm
          label={t('addIp')}
          note={pending ? t('ipPending') : null}
          submit={async () => {
            const body = Object.fromEntries(Object.entries(ip).map(([k, v]) => [k, v.trim()]));
            changed(await post<IpChanged>(paths.client('ipadd_', host, vm), body));
            setIp(empty);
            added();
          }}
        >
          {text('address', t('address'))}
          {text('netmask', t('netmask'), t('netmaskHint'))}
          {text('gateway', t('gateway'), t('gatewayHint'))}
          {text('nic', t('nic'), t('nicHint'))}
        </AddForm>
      )}
    />
  );
}

function ProxyEditor({ host, vm }: { host: string; vm: string }) {
  const empty = { web_addr: '', web_path: '', lan_port: '80', web_tips: '' };
  const [route, setRoute] = useState(empty);
  const text = (key: keyof typeof empty, label: string, hint?: string) => (
    <Field label={label} hint={hint}>
      {(id) => (
        <Input id={id} range={key === 'lan_port' ? PORTS : undefined} required={key === 'web_addr'} value={route[key]} onValue={(v) => setRoute({ ...route, [key]: v })} testid={`proxy-${key}`} />
      )}
    </Field>
  );
  return (
    <Editor<WebProxy>
      title={t('proxies')}
      testid="proxy-editor"
      load={() => get(paths.client('pxyget', host, vm))}
      empty={t('noProxies')}
      head={[t('domain'), t('path'), t('lanPort'), t('via'), t('note')]}
      row={(p) => [p.web_addr, p.web_path || '/', p.lan_port, p.wan_port || '—', p.web_tips]}
      label={(p) => p.web_addr + (p.web_path || '')}
      remove={(i) => del(paths.client('pxydel', host, vm, i))}
      form={(added) => (
        <AddForm
          label={t('addProxy')}
          submit={async () => {
            await post(paths.client('pxyadd', host, vm), {
              web_addr: route.web_addr.trim(),
              web_path: route.web_path.trim(),
              lan_port: numberOr(route.lan_port),
              web_tips: route.web_tips.trim(),
            });
            setRoute(empty);
            added();
          }}
        >
          {text('web_addr', t('domain'), t('domainHint'))}
          {text('web_path', t('path'), t('pathHint'))}
          {text('lan_port', t('lanPort'))}
          {text('web_tips', t('note'))}
        </AddForm>
      )}
    />
  );
}

/** The three editors of one VM. */
export function Network({ host, vm }: { host: string; vm: string }) {
  return (
    <div class="grid network">
      <NatEditor host={host} vm={vm} />
      <IpEditor host={host} vm={vm} />
      <ProxyEditor host={host} vm={vm} />
    </div>
  );
}
