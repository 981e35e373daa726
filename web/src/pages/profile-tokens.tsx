// The profile's personal API tokens: make one for a tool that cannot sign in (shown once),
// see when each was last used, revoke it.
import { useState } from 'preact/hooks';
import { del, get, post } from '../api';
import { formatTime, messages } from '../i18n';
import { Empty, ErrorNote, Field, Loaded, useAction, useResource } from '../ui';

const t = messages(
  {
    title: 'API tokens',
    intro: 'A token acts as you in every API until you revoke it: for scripts and ComfyUI clients that cannot sign in.',
    label: 'What it is for',
    create: 'Make a token',
    copyNow: 'Copy it now: it is shown only this once.',
    name: 'Label',
    hint: 'Starts with',
    created: 'Made',
    used: 'Last used',
    never: 'never',
    revoke: 'Revoke',
  },
  {
    title: 'API 令牌',
    intro: '令牌在撤销之前代表你调用所有 API：用于无法登录的脚本和 ComfyUI 客户端。',
    label: '用途',
    create: '生成令牌',
    copyNow: '请立即复制：令牌只显示这一次。',
    name: '名称',
    hint: '开头',
    created: '生成时间',
    used: '最近使用',
    never: '从未',
    revoke: '撤销',
  },
);

interface Token {
  id: string;
  label: string;
  hint: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export function PersonalTokens() {
  const tokens = useResource(() => get<Token[]>('/api/v1/users/tokens'));
  const [label, setLabel] = useState('');
  const [secret, setSecret] = useState<string | null>(null);
  const create = useAction(async () => {
    const made = await post<Token & { secret: string }>('/api/v1/users/tokens', { label });
    setSecret(made.secret);
    setLabel('');
    tokens.reload();
  });
  const revoke = useAction(async (id: string) => {
    await del(`/api/v1/users/tokens/${encodeURIComponent(id)}`);
    tokens.reload();
  });
  return (
    <section class="card">
      <h2>{t('title')}</h2>
      <p class="muted">{t('intro')}</p>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void create.run();
        }}
      >
        <Field label={t('label')}>{(id) => <input id={id} value={label} maxLength={64} required onInput={(e) => setLabel(e.currentTarget.value)} />}</Field>
        <button class="primary" type="submit" disabled={create.busy}>
          {t('create')}
        </button>
      </form>
      <ErrorNote error={create.error ?? revoke.error} />
      {secret && (
        <p class="note ok" role="status">
          {t('copyNow')} <code data-testid="new-token">{secret}</code>
        </p>
      )}
      <Loaded resource={tokens}>
        {(list) =>
          list.length === 0 ? (
            <Empty />
          ) : (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>{t('name')}</th>
                    <th>{t('hint')}</th>
                    <th>{t('created')}</th>
                    <th>{t('used')}</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {list.map((token) => (
                    <tr key={token.id}>
                      <td>{token.label}</td>
                      <td>
                        <code>{token.hint}</code>
                      </td>
                      <td>{formatTime(token.createdAt)}</td>
                      <td>{token.lastUsedAt ? formatTime(token.lastUsedAt) : t('never')}</td>
                      <td>
                        <button type="button" disabled={revoke.busy} onClick={() => void revoke.run(token.id)}>
                          {t('revoke')}
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
    </section>
  );
}
