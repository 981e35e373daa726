// The configured ComfyUI servers: add, edit, enable/disable and remove one server at a time
// through /api/config/servers, so nobody retypes the others. The server validates every
// change and its message is shown as it is.
import { useState } from 'preact/hooks';
import { messages } from '../../i18n';
import { Empty, ErrorNote, Field, Loaded, useAction, useResource } from '../../ui';
import { Badge } from './common';
import { addServer, fleetConfig, removeServer, updateServer } from './model';
import type { FleetConfig, Server, ServerInput } from './model';

const t = messages(
  {
    servers: 'Servers',
    name: 'Name',
    id: 'ID',
    host: 'Host',
    hostHint: 'IP address or host name',
    ports: 'Ports',
    portsHint: 'One ComfyUI per port, separated by commas',
    state: 'State',
    enabledBox: 'Send tasks to this server',
    add: 'Add a server',
    addSubmit: 'Add server',
    edit: 'Edit',
    editing: 'Edit server {name}',
    save: 'Save server',
    cancel: 'Cancel',
    disable: 'Disable',
    enable: 'Enable',
    remove: 'Remove',
    confirm: 'Remove {name}? Its instances finish their running tasks, then leave.',
    confirmRemove: 'Yes, remove',
    keep: 'Keep it',
    added: 'Server {name} added.',
    saved: 'Server {name} saved.',
    removed: 'Server {name} removed.',
    none: 'No servers configured.',
    actions: 'Actions',
  },
  {
    servers: '服务器',
    name: '名称',
    id: 'ID',
    host: '主机',
    hostHint: 'IP 地址或主机名',
    ports: '端口',
    portsHint: '每个端口一个 ComfyUI，用逗号分隔',
    state: '状态',
    enabledBox: '向此服务器派发任务',
    add: '添加服务器',
    addSubmit: '添加服务器',
    edit: '编辑',
    editing: '编辑服务器 {name}',
    save: '保存服务器',
    cancel: '取消',
    disable: '停用',
    enable: '启用',
    remove: '移除',
    confirm: '确定移除 {name}？其实例会先完成正在运行的任务再下线。',
    confirmRemove: '确定移除',
    keep: '保留',
    added: '已添加服务器 {name}。',
    saved: '已保存服务器 {name}。',
    removed: '已移除服务器 {name}。',
    none: '尚未配置服务器。',
    actions: '操作',
  },
);

/** The ports as typed: numbers where they are numbers; anything else goes to the server to judge. */
function parsePorts(text: string): (number | string)[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function inputOf(server: Server): ServerInput {
  return { name: server.name, ip: server.ip, ports: server.ports, enabled: server.enabled };
}

/** The add and edit form; `submit` gets what was typed and throws the server's refusal. */
function ServerForm({
  initial,
  title,
  submitLabel,
  testid,
  submit,
  onCancel,
}: {
  initial: ServerInput;
  title: string;
  submitLabel: string;
  testid: string;
  submit: (input: ServerInput) => Promise<void>;
  onCancel?: () => void;
}) {
  const [name, setName] = useState(initial.name);
  const [ip, setIp] = useState(initial.ip);
  const [ports, setPorts] = useState(initial.ports.join(', '));
  const [enabled, setEnabled] = useState(initial.enabled);
  const save = useAction(async () => {
    await submit({ name: name.trim(), ip: ip.trim(), ports: parsePorts(ports), enabled });
    if (!onCancel) {
      setName('');
      setIp('');
      setPorts('');
      setEnabled(true);
    }
  });
  return (
    <form
      class="card fleet-server-form"
      data-testid={testid}
      onSubmit={(e) => {
        e.preventDefault();
        void save.run();
      }}
    >
      <h3>{title}</h3>
      <div class="fleet-fields">
        <Field label={t('name')}>{(id) => <input id={id} name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />}</Field>
        <Field label={t('host')} hint={t('hostHint')}>
          {(id) => <input id={id} name="ip" value={ip} autoComplete="off" spellcheck={false} onInput={(e) => setIp(e.currentTarget.value)} />}
        </Field>
        <Field label={t('ports')} hint={t('portsHint')}>
          {(id) => <input id={id} name="ports" value={ports} inputMode="numeric" autoComplete="off" onInput={(e) => setPorts(e.currentTarget.value)} />}
        </Field>
      </div>
      <label class="row fleet-check">
        <input type="checkbox" name="enabled" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
        {t('enabledBox')}
      </label>
      <ErrorNote error={save.error} />
      <div class="actions">
        <button class="primary" type="submit" disabled={save.busy}>
          {submitLabel}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            {t('cancel')}
          </button>
        )}
      </div>
    </form>
  );
}

function ServerRow({
  server,
  onEdit,
  apply,
}: {
  server: Server;
  onEdit: () => void;
  apply: (change: () => Promise<FleetConfig>, done: string) => Promise<void>;
}) {
  const [confirming, setConfirming] = useState(false);
  const toggle = useAction(() => apply(() => updateServer(server.id, { ...inputOf(server), enabled: !server.enabled }), t('saved', { name: server.name })));
  const remove = useAction(() => apply(() => removeServer(server.id), t('removed', { name: server.name })));
  return (
    <tr data-testid="server-row" data-server={server.id}>
      <td>
        <strong>{server.name}</strong>
        <div class="muted">
          <code>{server.id}</code>
        </div>
      </td>
      <td>{server.ip}</td>
      <td>{server.ports.join(', ')}</td>
      <td>
        <Badge state={server.enabled ? 'enabled' : 'disabled'} />
      </td>
      <td>
        {confirming ? (
          <div class="fleet-confirm" role="alertdialog" aria-label={t('confirm', { name: server.name })}>
            <p>{t('confirm', { name: server.name })}</p>
            <div class="actions">
              <button type="button" class="danger" disabled={remove.busy} onClick={() => void remove.run()} data-testid="server-remove-confirm" autoFocus>
                {t('confirmRemove')}
              </button>
              <button type="button" onClick={() => setConfirming(false)}>
                {t('keep')}
              </button>
            </div>
          </div>
        ) : (
          <div class="actions">
            <button type="button" onClick={onEdit} data-testid="server-edit">
              {t('edit')}
            </button>
            <button type="button" disabled={toggle.busy} onClick={() => void toggle.run()} data-testid="server-toggle">
              {server.enabled ? t('disable') : t('enable')}
            </button>
            <button type="button" class="danger" onClick={() => setConfirming(true)} data-testid="server-remove">
              {t('remove')}
            </button>
          </div>
        )}
        <ErrorNote error={toggle.error ?? remove.error} />
      </td>
    </tr>
  );
}

/** The servers of the fleet configuration; `onChange` runs after every change the server accepted. */
export function Servers({ onChange }: { onChange: () => void }) {
  const config = useResource(fleetConfig);
  const [editing, setEditing] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const apply = async (change: () => Promise<FleetConfig>, message: string) => {
    setDone(null);
    config.set(await change());
    setDone(message);
    onChange();
  };

  return (
    <Loaded resource={config}>
      {(data) => {
        const current = data.servers.find((server) => server.id === editing);
        return (
          <>
            <h3>{t('servers')}</h3>
            {done && (
              <p class="note ok" role="status">
                {done}
              </p>
            )}
            {data.servers.length === 0 ? (
              <Empty>{t('none')}</Empty>
            ) : (
              <div class="table-wrap">
                <table class="fleet-table" data-testid="servers">
                  <thead>
                    <tr>
                      <th>{t('name')}</th>
                      <th>{t('host')}</th>
                      <th>{t('ports')}</th>
                      <th>{t('state')}</th>
                      <th>{t('actions')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.servers.map((server) => (
                      <ServerRow key={server.id} server={server} onEdit={() => setEditing(server.id)} apply={apply} />
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <div class="grid two fleet-forms">
              {current && (
                <ServerForm
                  key={current.id}
                  initial={inputOf(current)}
                  title={t('editing', { name: current.name })}
                  submitLabel={t('save')}
                  testid="server-edit-form"
                  submit={async (input) => {
                    await apply(() => updateServer(current.id, input), t('saved', { name: input.name }));
                    setEditing(null);
                  }}
                  onCancel={() => setEditing(null)}
                />
              )}
              <ServerForm
                initial={{ name: '', ip: '', ports: [], enabled: true }}
                title={t('add')}
                submitLabel={t('addSubmit')}
                testid="server-add-form"
                submit={async (input) => {
                  await apply(() => addServer(input), t('added', { name: input.name }));
                }}
              />
            </div>
          </>
        );
      }}
    </Loaded>
  );
}
