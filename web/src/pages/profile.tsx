// Everyone's own page: profile and avatar, balance, fund records (star-graph's user routes).
import { useState } from 'preact/hooks';
import { get, put, query } from '../api';
import { formatNumber, formatTime, messages } from '../i18n';
import { Empty, ErrorNote, Field, Loaded, Page, Pager, useAction, useResource } from '../ui';
import { PersonalTokens } from './profile-tokens';

const t = messages(
  {
    title: 'Profile',
    nickname: 'Nickname',
    email: 'E-mail',
    phone: 'Phone',
    avatar: 'Avatar',
    avatarHint: 'PNG, JPEG or WebP, at most 2 MiB.',
    save: 'Save profile',
    saved: 'Profile saved.',
    balance: 'Balance',
    available: 'Available',
    frozen: 'Held for running tasks',
    today: 'Used today',
    month: 'Used this month',
    records: 'Fund records',
    type: 'Type',
    amount: 'Change',
    after: 'Balance after',
    reason: 'Reason',
    time: 'Time',
    task: 'Task',
    RECHARGE: 'Credits granted',
    FREEZE: 'Held for a task',
    DEDUCT: 'Spent',
    REFUND: 'Released',
  },
  {
    title: '个人中心',
    nickname: '昵称',
    email: '邮箱',
    phone: '手机号',
    avatar: '头像',
    avatarHint: 'PNG、JPEG 或 WebP，不超过 2 MiB。',
    save: '保存资料',
    saved: '资料已保存。',
    balance: '余额',
    available: '可用',
    frozen: '任务冻结中',
    today: '今日消耗',
    month: '本月消耗',
    records: '资金记录',
    type: '类型',
    amount: '变动',
    after: '变动后余额',
    reason: '原因',
    time: '时间',
    task: '任务',
    RECHARGE: '充值',
    FREEZE: '冻结',
    DEDUCT: '扣费',
    REFUND: '退还',
  },
);

interface UserView {
  id: number;
  username: string;
  nickname: string;
  email: string | null;
  phone: string | null;
  avatar: string | null;
}
/** The profile route answers the user's fields and the balance side by side. */
type Profile = UserView & { balance: number };
interface Balance {
  balance: number;
  freezed: number;
  available: number;
  todayUsed: number;
  monthUsed: number;
}
interface FundRecord {
  id: number;
  type: 'RECHARGE' | 'FREEZE' | 'DEDUCT' | 'REFUND';
  amount: number;
  frozen: number;
  balance: number;
  reason: string;
  taskId: string | null;
  createTime: string;
}
export interface PageOf<T> {
  content: T[];
  totalElements: number;
  totalPages: number;
  page: number;
  pageSize: number;
}

function readAsDataUrl(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function ProfileForm({ profile, onSaved }: { profile: UserView; onSaved: (user: UserView) => void }) {
  const [nickname, setNickname] = useState(profile.nickname);
  const [email, setEmail] = useState(profile.email ?? '');
  const [phone, setPhone] = useState(profile.phone ?? '');
  const [avatar, setAvatar] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const save = useAction(async () => {
    setSaved(false);
    const body: Record<string, string> = { nickname };
    if (email) body.email = email;
    if (phone) body.phone = phone;
    if (avatar) body.avatar = avatar;
    onSaved(await put<UserView>('/api/v1/users/profile', body));
    setAvatar(null);
    setSaved(true);
  });
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        void save.run();
      }}
    >
      <div class="row">
        {(avatar ?? profile.avatar) && <img class="avatar" src={avatar ?? profile.avatar ?? ''} alt={t('avatar')} />}
        <strong>{profile.username}</strong>
      </div>
      <Field label={t('nickname')}>{(id) => <input id={id} value={nickname} maxLength={32} required onInput={(e) => setNickname(e.currentTarget.value)} />}</Field>
      <Field label={t('email')}>{(id) => <input id={id} type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}</Field>
      <Field label={t('phone')}>{(id) => <input id={id} type="tel" value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />}</Field>
      <Field label={t('avatar')} hint={t('avatarHint')}>
        {(id) => (
          <input
            id={id}
            type="file"
            accept="image/png,image/jpeg,image/webp"
            onChange={async (e) => {
              const file = e.currentTarget.files?.[0];
              if (file) setAvatar(await readAsDataUrl(file));
            }}
          />
        )}
      </Field>
      <ErrorNote error={save.error} />
      {saved && <p class="note ok" role="status">{t('saved')}</p>}
      <button class="primary" type="submit" disabled={save.busy}>
        {t('save')}
      </button>
    </form>
  );
}

function Records() {
  const [page, setPage] = useState(1);
  const records = useResource(() => get<PageOf<FundRecord>>(`/api/v1/users/fund-records${query({ page, pageSize: 20 })}`), [page]);
  return (
    <Loaded resource={records}>
      {(data) =>
        data.content.length === 0 ? (
          <Empty />
        ) : (
          <>
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>{t('time')}</th>
                    <th>{t('type')}</th>
                    <th class="num">{t('amount')}</th>
                    <th class="num">{t('after')}</th>
                    <th>{t('reason')}</th>
                  </tr>
                </thead>
                <tbody>
                  {data.content.map((r) => (
                    <tr key={r.id}>
                      <td>{formatTime(r.createTime)}</td>
                      <td>{t(r.type)}</td>
                      <td class="num">{r.amount > 0 ? `+${formatNumber(r.amount)}` : formatNumber(r.amount)}</td>
                      <td class="num">{formatNumber(r.balance)}</td>
                      <td>{r.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager page={data.page} pages={data.totalPages} onPage={setPage} />
          </>
        )
      }
    </Loaded>
  );
}

export function Profile() {
  const profile = useResource(() => get<Profile>('/api/v1/users/profile'));
  const balance = useResource(() => get<Balance>('/api/v1/users/balance'));
  return (
    <Page title={t('title')}>
      <div class="grid two">
        <Loaded resource={profile}>{(p) => <ProfileForm profile={p} onSaved={(user) => profile.set({ ...p, ...user })} />}</Loaded>
        <Loaded resource={balance}>
          {(b) => (
            <div class="card">
              <h2>{t('balance')}</h2>
              <p class="big" data-testid="balance">
                {formatNumber(b.balance)}
              </p>
              <dl class="facts">
                <dt>{t('available')}</dt>
                <dd>{formatNumber(b.available)}</dd>
                <dt>{t('frozen')}</dt>
                <dd>{formatNumber(b.freezed)}</dd>
                <dt>{t('today')}</dt>
                <dd>{formatNumber(b.todayUsed)}</dd>
                <dt>{t('month')}</dt>
                <dd>{formatNumber(b.monthUsed)}</dd>
              </dl>
            </div>
          )}
        </Loaded>
      </div>
      <PersonalTokens />
      <h2>{t('records')}</h2>
      <Records />
    </Page>
  );
}
