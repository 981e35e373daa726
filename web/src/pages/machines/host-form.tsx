// The host settings form: creating a host (name and engine too) or changing one (only the
// fields that changed are sent, so the server's rules about what may change apply to those).
import { useState } from 'preact/hooks';
import { get, post, put } from '../../api';
import { messages } from '../../i18n';
import { ErrorNote, Field, useAction, useResource } from '../../ui';
import { type EngineEntry, type HostConfig, type HostView, numberOr, paths } from './model';
import { Input } from './parts';

const t = messages(
  {
    name: 'Host name',
    nameHint: 'Letters, digits, “_”, “.” and “-”; it cannot change later.',
    engine: 'Engine',
    noEngines: 'No engine available',
    address: 'Engine address',
    addressHint: 'Empty for this machine.',
    images: 'Images folder',
    imagesHint: 'Base images, kernels and initrds that VMs name.',
    system: 'VM files folder',
    systemHint: 'Empty for the default under the server’s storage root.',
    portsStart: 'NAT ports from',
    portsClose: 'NAT ports to',
    portsHint: 'Empty for the server’s default range.',
    natBind: 'NAT listen address',
    natBindHint: 'Empty for the server’s default.',
    filter: 'Adopt VM ids starting with',
    filterHint: 'Used when scanning for VMs; empty for any.',
    publicAddr: 'Public addresses',
    publicAddrHint: 'For display; separate with commas or spaces.',
    create: 'Add host',
    save: 'Save host',
    saved: 'Host saved.',
    unchanged: 'Nothing changed.',
  },
  {
    name: '主机名',
    nameHint: '字母、数字、“_”、“.” 和 “-”；创建后不可修改。',
    engine: '引擎',
    noEngines: '没有可用引擎',
    address: '引擎地址',
    addressHint: '留空表示本机。',
    images: '镜像目录',
    imagesHint: '虚拟机使用的基础镜像、内核和 initrd。',
    system: '虚拟机文件目录',
    systemHint: '留空则使用服务器存储根目录下的默认位置。',
    portsStart: 'NAT 起始端口',
    portsClose: 'NAT 结束端口',
    portsHint: '留空使用服务器默认范围。',
    natBind: 'NAT 监听地址',
    natBindHint: '留空使用服务器默认值。',
    filter: '扫描时接管的虚拟机 ID 前缀',
    filterHint: '扫描虚拟机时使用；留空表示全部。',
    publicAddr: '公网地址',
    publicAddrHint: '仅用于显示；用逗号或空格分隔。',
    create: '添加主机',
    save: '保存主机',
    saved: '主机已保存。',
    unchanged: '没有修改。',
  },
);

type Text = Record<'server_addr' | 'images_path' | 'system_path' | 'nat_bind' | 'filter_name' | 'ports_start' | 'ports_close' | 'public_addr', string>;

function textOf(host?: HostView): Text {
  return {
    server_addr: host?.server_addr ?? '',
    images_path: host?.images_path ?? '',
    system_path: host?.system_path ?? '',
    nat_bind: host?.nat_bind ?? '',
    filter_name: host?.filter_name ?? '',
    ports_start: host?.ports_start ? String(host.ports_start) : '',
    ports_close: host?.ports_close ? String(host.ports_close) : '',
    public_addr: host?.public_addr.join(', ') ?? '',
  };
}

/** The body fields of `text` (only those differing from `before`, when given). */
function bodyOf(text: Text, before?: Text): Partial<HostConfig> {
  const body: Partial<HostConfig> = {};
  const changed = (key: keyof Text) => (before ? text[key] !== before[key] : text[key].trim() !== '');
  for (const key of ['server_addr', 'images_path', 'system_path', 'nat_bind', 'filter_name'] as const) {
    if (changed(key)) body[key] = text[key].trim();
  }
  for (const key of ['ports_start', 'ports_close'] as const) {
    if (changed(key)) body[key] = numberOr(text[key]) ?? 0;
  }
  if (changed('public_addr')) body.public_addr = text.public_addr.split(/[\s,]+/).filter(Boolean);
  return body;
}

/** Creates a host (no `host`) or edits `host`; `onSaved` gets the server's answer. */
export function HostForm({ host, onSaved }: { host?: HostView; onSaved: (host: HostView) => void }) {
  const [name, setName] = useState('');
  const [engine, setEngine] = useState('');
  const [text, setText] = useState<Text>(() => textOf(host));
  const [note, setNote] = useState<'saved' | 'unchanged' | null>(null);
  const engines = useResource(() => (host ? Promise.resolve([]) : get<EngineEntry[]>('/api/system/engine')), [host === undefined]);
  const chosen = engine || engines.data?.find((e) => e.enabled)?.key || '';
  const save = useAction(async () => {
    setNote(null);
    if (host) {
      const body = bodyOf(text, textOf(host));
      if (Object.keys(body).length === 0) {
        setNote('unchanged');
        return;
      }
      onSaved(await put<HostView>(paths.server('update', host.hs_name), body));
      setNote('saved');
    } else {
      onSaved(await post<HostView>(paths.server('create'), { hs_name: name.trim(), ...(chosen ? { server_type: chosen } : {}), ...bodyOf(text) }));
      setName('');
      setText(textOf());
    }
  });
  const input = (key: keyof Text, label: string, hint?: string, port = false) => (
    <Field label={label} hint={hint}>
      {(id) => <Input id={id} range={port ? [1, 65535] : undefined} value={text[key]} onValue={(v) => setText({ ...text, [key]: v })} testid={`host-${key}`} />}
    </Field>
  );
  return (
    <form
      class="host-form"
      onSubmit={(e) => {
        e.preventDefault();
        void save.run();
      }}
    >
      {!host && (
        <div class="grid two">
          <Field label={t('name')} hint={t('nameHint')}>
            {(id) => <input id={id} value={name} required maxLength={64} onInput={(e) => setName(e.currentTarget.value)} data-testid="host-name" />}
          </Field>
          <Field label={t('engine')}>
            {(id) => (
              <select id={id} value={chosen} onChange={(e) => setEngine(e.currentTarget.value)}>
                {(engines.data ?? []).map((e) => (
                  <option key={e.key} value={e.key} disabled={!e.enabled}>
                    {[e.name, e.version, e.accel].filter(Boolean).join(' · ')}
                  </option>
                ))}
                {engines.data?.length === 0 && <option value="">{t('noEngines')}</option>}
              </select>
            )}
          </Field>
        </div>
      )}
      <ErrorNote error={engines.error} onRetry={engines.reload} />
      <div class="grid two">
        {input('images_path', t('images'), t('imagesHint'))}
        {input('system_path', t('system'), t('systemHint'))}
        {input('ports_start', t('portsStart'), t('portsHint'), true)}
        {input('ports_close', t('portsClose'), t('portsHint'), true)}
        {input('nat_bind', t('natBind'), t('natBindHint'))}
        {input('filter_name', t('filter'), t('filterHint'))}
        {input('public_addr', t('publicAddr'), t('publicAddrHint'))}
        {input('server_addr', t('address'), t('addressHint'))}
      </div>
      <ErrorNote error={save.error} />
      {note && (
        <p class="note ok" role="status">
          {t(note)}
        </p>
      )}
      <button class="primary" type="submit" disabled={save.busy} data-testid="host-save">
        {host ? t('save') : t('create')}
      </button>
    </form>
  );
}
