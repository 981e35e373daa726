// Sign in: one identity for the four dialects (the token works on every route).
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { type User, api, signIn } from '../api';
import { messages } from '../i18n';
import { LanguageSwitch } from '../layout';
import { ErrorNote, Field, useAction } from '../ui';

const t = messages(
  {
    title: 'Sign in to Gantry',
    username: 'Username',
    password: 'Password',
    submit: 'Sign in',
    busy: 'Signing in…',
    lead: 'One account for the studio, the fleet, the machines and the workflows.',
  },
  {
    title: '登录 Gantry',
    username: '用户名',
    password: '密码',
    submit: '登录',
    busy: '登录中…',
    lead: '一个账号即可使用创作、算力集群、虚拟机与工作流。',
  },
);

interface LoginAnswer {
  token: string;
  expiresIn: number;
  user: User;
}

export function Login({ next }: { next: string }) {
  const { route } = useLocation();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const login = useAction(async () => {
    const answer = await api<LoginAnswer>('POST', '/api/auth/login', { username, password });
    signIn({ token: answer.token, user: answer.user, expiresAt: Date.now() + answer.expiresIn * 1000 });
    route(next || '/', true);
  });
  return (
    <main id="main" class="login">
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          void login.run();
        }}
      >
        <div class="row spread">
          <h1>{t('title')}</h1>
          <LanguageSwitch />
        </div>
        <p class="muted">{t('lead')}</p>
        <Field label={t('username')}>
          {(id) => <input id={id} name="username" autocomplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />}
        </Field>
        <Field label={t('password')}>
          {(id) => (
            <input id={id} name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          )}
        </Field>
        <ErrorNote error={login.error} />
        <button type="submit" class="primary" disabled={login.busy}>
          {login.busy ? t('busy') : t('submit')}
        </button>
      </form>
    </main>
  );
}
