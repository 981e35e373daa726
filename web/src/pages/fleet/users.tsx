// User administration (/users, admins; star-graph /api/v1/admin/users): the users a page at
// a time, create one, change a role, grant credits. The list carries no balances, so a
// user's balance shows once a grant here has answered it.
import { useState } from 'preact/hooks';
import { formatNumber, formatTime, messages } from '../../i18n';
import { session } from '../../api';
import { Empty, ErrorNote, Field, Loaded, Page, Pager, useAction, useResource } from '../../ui';
import { AdminOnly } from './common';
import { createUser, grantCredits, setRole, users } from './model';
import type { UserPage, UserRow } from './model';

const t = messages(
  {
    title: 'Users',
    create: 'Create a user',
    list: 'All users',
    username: 'Username',
    password: 'Password',
    passwordHint: '8 to 256 characters',
    role: 'Role',
    USER: 'User',
    ADMIN: 'Administrator',
    createSubmit: 'Create user',
    created: 'User {name} created.',
    id: 'ID',
    nickname: 'Nickname',
    since: 'Created',
    balance: 'Balance',
    balanceNote: 'Balances show after a grant on this page.',
    actions: 'Actions',
    makeAdmin: 'Make administrator',
    makeUser: 'Make user',
    grant: 'Grant credits',
    grantTo: 'Grant credits to {name}',
    amount: 'Credits',
    reason: 'Reason',
    reasonHint: 'Optional; shown in the user’s fund records',
    grantSubmit: 'Grant',
    granted: '{amount} credits granted to {name}; balance now {balance}.',
    close: 'Close',
    none: 'No users.',
    you: '(you)',
  },
  {
    title: '用户',
    create: '创建用户',
    list: '全部用户',
    username: '用户名',
    password: '密码',
    passwordHint: '8 至 256 个字符',
    role: '角色',
    USER: '普通用户',
    ADMIN: '管理员',
    createSubmit: '创建用户',
    created: '已创建用户 {name}。',
    id: 'ID',
    nickname: '昵称',
    since: '创建时间',
    balance: '余额',
    balanceNote: '在本页充值后显示余额。',
    actions: '操作',
    makeAdmin: '设为管理员',
    makeUser: '设为普通用户',
    grant: '充值积分',
    grantTo: '为 {name} 充值积分',
    amount: '积分',
    reason: '原因',
    reasonHint: '可选，会显示在用户的资金记录中',
    grantSubmit: '充值',
    granted: '已为 {name} 充值 {amount} 积分，当前余额 {balance}。',
    close: '关闭',
    none: '没有用户。',
    you: '（你）',
  },
);

const PAGE_SIZE = 20;
type Role = UserRow['role'];

function CreateForm({ onCreated }: { onCreated: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRoleValue] = useState<Role>('USER');
  const [done, setDone] = useState<string | null>(null);
  const create = useAction(async () => {
    setDone(null);
    const user = await createUser({ username: username.trim(), password, role });
    setDone(t('created', { name: user.username }));
    setUsername('');
    setPassword('');
    setRoleValue('USER');
    onCreated();
  });
  return (
    <form
      class="card"
      data-testid="user-create-form"
      onSubmit={(e) => {
        e.preventDefault();
        void create.run();
      }}
    >
      <h2>{t('create')}</h2>
      <Field label={t('username')}>
        {(id) => <input id={id} name="username" value={username} autoComplete="off" onInput={(e) => setUsername(e.currentTarget.value)} />}
      </Field>
      <Field label={t('password')} hint={t('passwordHint')}>
        {(id) => <input id={id} name="new-password" type="password" autoComplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />}
      </Field>
      <Field label={t('role')}>
        {(id) => (
          <select id={id} name="role" value={role} onChange={(e) => setRoleValue(e.currentTarget.value as Role)}>
            <option value="USER">{t('USER')}</option>
            <option value="ADMIN">{t('ADMIN')}</option>
          </select>
        )}
      </Field>
      <ErrorNote error={create.error} />
      {done && (
        <p class="note ok" role="status">
          {done}
        </p>
      )}
      <button class="primary" type="submit" disabled={create.busy}>
        {t('createSubmit')}
      </button>
    </form>
  );
}

function GrantForm({ user, onGranted, onClose }: { user: UserRow; onGranted: (balance: number) => void; onClose: () => void }) {
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const grant = useAction(async () => {
    setDone(null);
    const granted = await grantCredits(user.id, Number(amount), reason.trim() || undefined);
    onGranted(granted.balance);
    setDone(t('granted', { name: user.username, amount: formatNumber(granted.amount), balance: formatNumber(granted.balance) }));
    setAmount('');
    setReason('');
  });
  return (
    <form
      class="card"
      data-testid="user-grant-form"
      onSubmit={(e) => {
        e.preventDefault();
        void grant.run();
      }}
    >
      <h2>{t('grantTo', { name: user.username })}</h2>
      <Field label={t('amount')}>
        {(id) => <input id={id} name="amount" type="number" step={1} required value={amount} onInput={(e) => setAmount(e.currentTarget.value)} autoFocus />}
      </Field>
      <Field label={t('reason')} hint={t('reasonHint')}>
        {(id) => <input id={id} name="reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />}
      </Field>
      <ErrorNote error={grant.error} />
      {done && (
        <p class="note ok" role="status">
          {done}
        </p>
      )}
      <div class="actions">
        <button class="primary" type="submit" disabled={grant.busy}>
          {t('grantSubmit')}
        </button>
        <button type="button" onClick={onClose}>
          {t('close')}
        </button>
      </div>
    </form>
  );
}

function UserRowView({ user, balance, onGrant, onChanged }: { user: UserRow; balance: number | undefined; onGrant: () => void; onChanged: (user: UserRow) => void }) {
  const role = useAction(async () => onChanged(await setRole(user.id, user.role === 'ADMIN' ? 'USER' : 'ADMIN')));
  const self = session.value?.user.id === user.id;
  return (
    <tr data-testid="user-row" data-username={user.username}>
      <td class="num">{user.id}</td>
      <td>
        <strong>{user.username}</strong> {self && <span class="muted">{t('you')}</span>}
      </td>
      <td>{user.nickname}</td>
      <td>{t(user.role)}</td>
      <td>{formatTime(user.createTime)}</td>
      <td class="num" data-testid="user-balance">
        {balance === undefined ? '—' : formatNumber(balance)}
      </td>
      <td>
        <div class="actions">
          <button type="button" onClick={onGrant} data-testid="user-grant">
            {t('grant')}
          </button>
          <button type="button" disabled={role.busy} onClick={() => void role.run()}>
            {user.role === 'ADMIN' ? t('makeUser') : t('makeAdmin')}
          </button>
        </div>
        <ErrorNote error={role.error} />
      </td>
    </tr>
  );
}

function UserTable({ data, balances, onGrant, onChanged }: { data: UserPage; balances: Map<number, number>; onGrant: (user: UserRow) => void; onChanged: (user: UserRow) => void }) {
  if (data.content.length === 0) return <Empty>{t('none')}</Empty>;
  return (
    <>
      <div class="table-wrap">
        <table class="fleet-table" data-testid="users">
          <thead>
            <tr>
              <th class="num">{t('id')}</th>
              <th>{t('username')}</th>
              <th>{t('nickname')}</th>
              <th>{t('role')}</th>
              <th>{t('since')}</th>
              <th class="num">{t('balance')}</th>
              <th>{t('actions')}</th>
            </tr>
          </thead>
          <tbody>
            {data.content.map((user) => (
              <UserRowView key={user.id} user={user} balance={balances.get(user.id)} onGrant={() => onGrant(user)} onChanged={onChanged} />
            ))}
          </tbody>
        </table>
      </div>
      <p class="muted">{t('balanceNote')}</p>
    </>
  );
}

function UserAdmin() {
  const [page, setPage] = useState(1);
  const list = useResource(() => users(page, PAGE_SIZE), [page]);
  const [balances, setBalances] = useState(() => new Map<number, number>());
  const [granting, setGranting] = useState<UserRow | null>(null);

  const changed = (user: UserRow) => {
    if (list.data) list.set({ ...list.data, content: list.data.content.map((u) => (u.id === user.id ? user : u)) });
  };
  // Users are listed by id, so a new one is on the last page.
  const created = () => {
    const total = (list.data?.totalElements ?? 0) + 1;
    const last = Math.max(1, Math.ceil(total / PAGE_SIZE));
    if (last === page) list.reload();
    else setPage(last);
  };

  return (
    <>
      <div class="grid two">
        <CreateForm onCreated={created} />
        {granting && (
          <GrantForm
            key={granting.id}
            user={granting}
            onGranted={(balance) => setBalances((old) => new Map(old).set(granting.id, balance))}
            onClose={() => setGranting(null)}
          />
        )}
      </div>
      <h2>{t('list')}</h2>
      <Loaded resource={list}>
        {(data) => (
          <>
            <UserTable data={data} balances={balances} onGrant={setGranting} onChanged={changed} />
            <Pager page={data.page} pages={data.totalPages} onPage={setPage} />
          </>
        )}
      </Loaded>
    </>
  );
}

export function Users() {
  return (
    <Page title={t('title')}>
      <AdminOnly>
        <UserAdmin />
      </AdminOnly>
    </Page>
  );
}
