// Health-check and dispatch settings: one form, saved as a merge patch of those two
// sections (PATCH /api/config), so the server list is never touched. Times are in ms, as
// the server takes and checks them; each shows its length beside it.
import { useState } from 'preact/hooks';
import { messages } from '../../i18n';
import { ErrorNote, Field, Loaded, useAction, useResource } from '../../ui';
import { duration } from './common';
import { fleetConfig, patchConfig } from './model';
import type { Dispatch, FleetConfig, HealthCheck } from './model';

const t = messages(
  {
    title: 'Health checks and dispatch',
    health: 'Health checks',
    interval: 'Check interval (ms)',
    timeout: 'Check timeout (ms)',
    failureThreshold: 'Failures before an instance is down',
    dispatch: 'Dispatch',
    prefetch: 'Prompts waiting inside each ComfyUI',
    maxAttempts: 'Attempts per task',
    taskTimeout: 'Task time limit (ms)',
    maxQueue: 'Largest queue',
    save: 'Save settings',
    saved: 'Settings saved.',
  },
  {
    title: '健康检查与调度',
    health: '健康检查',
    interval: '检查间隔（毫秒）',
    timeout: '检查超时（毫秒）',
    failureThreshold: '判定离线前的失败次数',
    dispatch: '调度',
    prefetch: '每个 ComfyUI 内预排的提示数',
    maxAttempts: '每个任务的尝试次数',
    taskTimeout: '任务时限（毫秒）',
    maxQueue: '队列上限',
    save: '保存设置',
    saved: '设置已保存。',
  },
);

type Key = keyof HealthCheck | keyof Dispatch;
const HEALTH: (keyof HealthCheck)[] = ['interval', 'timeout', 'failureThreshold'];
const DISPATCH: (keyof Dispatch)[] = ['prefetch', 'maxAttempts', 'taskTimeout', 'maxQueue'];
const TIMES: Key[] = ['interval', 'timeout', 'taskTimeout'];

function valuesOf(config: FleetConfig): Record<Key, string> {
  const all = { ...config.healthCheck, ...config.dispatch };
  return Object.fromEntries(Object.entries(all).map(([key, value]) => [key, String(value)])) as Record<Key, string>;
}

function SettingsForm({ config, onSaved }: { config: FleetConfig; onSaved: (config: FleetConfig) => void }) {
  const [values, setValues] = useState(() => valuesOf(config));
  const [saved, setSaved] = useState(false);
  const pick = <K extends Key>(keys: K[]) => Object.fromEntries(keys.map((key) => [key, Number(values[key])])) as Record<K, number>;
  const save = useAction(async () => {
    setSaved(false);
    const next = await patchConfig({ healthCheck: pick(HEALTH), dispatch: pick(DISPATCH) });
    setValues(valuesOf(next));
    onSaved(next);
    setSaved(true);
  });
  const input = (key: Key) => (
    <Field label={t(key)} hint={TIMES.includes(key) ? duration(Number(values[key])) : undefined}>
      {(id) => (
        <input
          id={id}
          name={key}
          type="number"
          min={0}
          step={1}
          required
          value={values[key]}
          onInput={(e) => {
            const value = e.currentTarget.value;
            setValues((old) => ({ ...old, [key]: value }));
          }}
        />
      )}
    </Field>
  );
  return (
    <form
      class="card fleet-settings"
      data-testid="fleet-settings"
      onSubmit={(e) => {
        e.preventDefault();
        void save.run();
      }}
    >
      <h3>{t('title')}</h3>
      <div class="grid two">
        <fieldset>
          <legend>{t('health')}</legend>
          {HEALTH.map(input)}
        </fieldset>
        <fieldset>
          <legend>{t('dispatch')}</legend>
          {DISPATCH.map(input)}
        </fieldset>
      </div>
      <ErrorNote error={save.error} />
      {saved && (
        <p class="note ok" role="status">
          {t('saved')}
        </p>
      )}
      <button class="primary" type="submit" disabled={save.busy}>
        {t('save')}
      </button>
    </form>
  );
}

export function Settings() {
  const config = useResource(fleetConfig);
  return <Loaded resource={config}>{(data) => <SettingsForm config={data} onSaved={config.set} />}</Loaded>;
}
