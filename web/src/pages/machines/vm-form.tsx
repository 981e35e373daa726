// The VM settings form: creating a VM on a host (its agent secret is shown once, after) or
// changing one (only changed fields are sent; the answer says what waits for the next boot).
import { useState } from 'preact/hooks';
import { post, put } from '../../api';
import { messages } from '../../i18n';
import { ErrorNote, Field, useAction } from '../../ui';
import { type CreatedVm, type VmView, links, numberOr, paths } from './model';
import { Input } from './parts';

const t = messages(
  {
    name: 'Name',
    nameHint: 'Unique on the host; empty for the VM id.',
    id: 'VM id',
    idHint: 'Empty to generate one; it cannot change later.',
    cpu: 'CPUs',
    mem: 'Memory (MiB)',
    hdd: 'Disk (MiB)',
    hddHint: '0 for none, unless a base image is named.',
    os: 'Base image',
    osHint: 'A disk image in the host’s images folder, used copy-on-write.',
    kernel: 'Kernel',
    kernelHint: 'A file in the host’s images folder, for direct kernel boot.',
    initrd: 'Initrd',
    cmdline: 'Kernel command line',
    ip: 'IPv4 address',
    ipHint: 'Empty for the engine’s default.',
    create: 'Create VM',
    save: 'Save settings',
    created: 'VM {name} created. It is stopped; start it from its page.',
    open: 'Open it',
    secret: 'Agent secret (shown only now; the in-VM agent sends it to report status)',
    applied: 'Applied now: {fields}.',
    pending: 'Applied on the next boot: {fields}.',
    unchanged: 'Nothing changed.',
  },
  {
    name: '名称',
    nameHint: '在主机内唯一；留空则使用虚拟机 ID。',
    id: '虚拟机 ID',
    idHint: '留空自动生成；创建后不可修改。',
    cpu: 'CPU 数',
    mem: '内存 (MiB)',
    hdd: '磁盘 (MiB)',
    hddHint: '0 表示无磁盘（除非指定了基础镜像）。',
    os: '基础镜像',
    osHint: '主机镜像目录中的磁盘镜像，以写时复制方式使用。',
    kernel: '内核',
    kernelHint: '主机镜像目录中的文件，用于直接内核启动。',
    initrd: 'Initrd',
    cmdline: '内核命令行',
    ip: 'IPv4 地址',
    ipHint: '留空使用引擎默认值。',
    create: '创建虚拟机',
    save: '保存设置',
    created: '虚拟机 {name} 已创建，当前为停止状态；请在其页面启动。',
    open: '打开',
    secret: 'Agent 密钥（仅此一次显示；虚拟机内的 agent 用它上报状态）',
    applied: '已立即生效：{fields}。',
    pending: '下次启动时生效：{fields}。',
    unchanged: '没有修改。',
  },
);

type Key = 'vm_name' | 'cpu_num' | 'mem_num' | 'hdd_num' | 'kernel' | 'initrd' | 'cmdline';
const numeric: Key[] = ['cpu_num', 'mem_num', 'hdd_num'];

function textOf(vm?: VmView): Record<Key, string> {
  return {
    vm_name: vm?.vm_name ?? '',
    cpu_num: String(vm?.cpu_num ?? 1),
    mem_num: String(vm?.mem_num ?? 512),
    hdd_num: vm ? String(vm.hdd_num) : '',
    kernel: vm?.kernel ?? '',
    initrd: vm?.initrd ?? '',
    cmdline: vm?.cmdline ?? '',
  };
}

function valueOf(key: Key, text: string) {
  return numeric.includes(key) ? numberOr(text) : text.trim();
}

interface Updated {
  vm: VmView;
  applied: string[];
  pending: string[];
}

/** Creates a VM on `host` (no `vm`) or edits `vm`; `onSaved` gets the VM as the server has it. */
export function VmForm({ host, vm, onSaved }: { host: string; vm?: VmView; onSaved: (vm: VmView) => void }) {
  const [text, setText] = useState(() => textOf(vm));
  const [extra, setExtra] = useState({ vm_uuid: '', os_name: '', ip4_addr: '' });
  const [created, setCreated] = useState<CreatedVm | null>(null);
  const [result, setResult] = useState<Updated | 'unchanged' | null>(null);
  const save = useAction(async () => {
    setResult(null);
    setCreated(null);
    const body: Record<string, unknown> = {};
    const before = textOf(vm);
    for (const key of Object.keys(text) as Key[]) {
      const value = valueOf(key, text[key]);
      if (vm ? text[key] !== before[key] : value !== undefined && value !== '') body[key] = value;
    }
    if (vm) {
      if (Object.keys(body).length === 0) {
        setResult('unchanged');
        return;
      }
      const answer = await put<Updated>(paths.client('update', host, vm.vm_uuid), body);
      setResult(answer);
      onSaved(answer.vm);
      return;
    }
    if (extra.vm_uuid.trim()) body.vm_uuid = extra.vm_uuid.trim();
    if (extra.os_name.trim()) body.os_name = extra.os_name.trim();
    if (extra.ip4_addr.trim()) body.nic_all = { nic0: { ip4_addr: extra.ip4_addr.trim() } };
    const answer = await post<CreatedVm>(paths.client('create', host), body);
    setCreated(answer);
    setText(textOf());
    setExtra({ vm_uuid: '', os_name: '', ip4_addr: '' });
    onSaved(answer.vm);
  });
  const input = (key: Key, label: string, hint?: string) => (
    <Field label={label} hint={hint}>
      {(id) => (
        <Input id={id} range={numeric.includes(key) ? [0, Number.MAX_SAFE_INTEGER] : undefined} value={text[key]} onValue={(v) => setText({ ...text, [key]: v })} testid={`vm-${key}`} />
      )}
    </Field>
  );
  const extraInput = (key: keyof typeof extra, label: string, hint: string) => (
    <Field label={label} hint={hint}>
      {(id) => <Input id={id} value={extra[key]} onValue={(v) => setExtra({ ...extra, [key]: v })} testid={`vm-${key}`} />}
    </Field>
  );
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void save.run();
      }}
    >
      <div class="grid two">
        {input('vm_name', t('name'), t('nameHint'))}
        {!vm && extraInput('vm_uuid', t('id'), t('idHint'))}
        {input('cpu_num', t('cpu'))}
        {input('mem_num', t('mem'))}
        {input('hdd_num', t('hdd'), t('hddHint'))}
        {!vm && extraInput('os_name', t('os'), t('osHint'))}
        {input('kernel', t('kernel'), t('kernelHint'))}
        {input('initrd', t('initrd'))}
        {input('cmdline', t('cmdline'))}
        {!vm && extraInput('ip4_addr', t('ip'), t('ipHint'))}
      </div>
      <ErrorNote error={save.error} />
      {result === 'unchanged' && (
        <p class="note ok" role="status">
          {t('unchanged')}
        </p>
      )}
      {result && result !== 'unchanged' && (
        <div class="note ok" role="status">
          {result.applied.length > 0 && <span>{t('applied', { fields: result.applied.join(', ') })}</span>}
          {result.pending.length > 0 && <span>{t('pending', { fields: result.pending.join(', ') })}</span>}
        </div>
      )}
      {created && (
        <div class="note ok" role="status" data-testid="vm-created">
          <div>
            <p>
              {t('created', { name: created.vm.vm_name || created.vm.vm_uuid })} <a href={links.vm(host, created.vm.vm_uuid)}>{t('open')}</a>
            </p>
            <p>
              {t('secret')}: <code class="secret">{created.agent_secret}</code>
            </p>
          </div>
        </div>
      )}
      <button class="primary" type="submit" disabled={save.busy} data-testid="vm-save">
        {vm ? t('save') : t('create')}
      </button>
    </form>
  );
}
