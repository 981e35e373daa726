// How a workflow starts: its first step when that is a trigger module (by hand, a cron
// schedule, a webhook, a Gantry event), else by hand. The webhook's secret URL comes from
// the server once the workflow is saved with a webhook trigger; a cron schedule's next run
// once it is saved and enabled.
import { useState } from 'preact/hooks';
import { formatTime, messages } from '../../i18n';
import { Field } from '../../ui';
import { type DraftStep, type Modules, newStep } from './draft';
import { ParamField } from './fields';
import { type Issue, type Schedule, pick } from './model';

const t = messages(
  {
    title: 'Trigger',
    how: 'How it starts',
    none: 'By hand or through the API (no trigger step)',
    legacy: 'Its stored trigger setting says “{type}”; a trigger chosen here takes its place.',
    url: 'Webhook URL',
    copy: 'Copy',
    copied: 'Copied.',
    copyFailed: 'The browser did not allow copying; select the address instead.',
    saveFirst: 'Save the workflow to get its webhook URL.',
    secret: 'Anyone with this address can run the workflow while it is enabled.',
    utc: 'Times are UTC.',
    enabledOnly: 'Only an enabled workflow is started by its trigger.',
    nextRun: 'Next run: {time} (your local time).',
    notScheduled: 'Not scheduled while the workflow is disabled.',
    saveToSchedule: 'Save the workflow to see when the changed schedule runs next.',
  },
  {
    title: '触发器',
    how: '启动方式',
    none: '手动或通过 API 启动（无触发步骤）',
    legacy: '其存储的触发设置为“{type}”；在此选择的触发器将取而代之。',
    url: 'Webhook 地址',
    copy: '复制',
    copied: '已复制。',
    copyFailed: '浏览器不允许复制，请手动选中地址。',
    saveFirst: '保存工作流后即可获得 Webhook 地址。',
    secret: '工作流启用期间，任何持有此地址的人都可以运行它。',
    utc: '时间为 UTC。',
    enabledOnly: '只有启用的工作流才会被触发器启动。',
    nextRun: '下次运行：{time}（本地时间）。',
    notScheduled: '工作流停用期间不会按计划运行。',
    saveToSchedule: '保存工作流后即可看到修改后的计划下次何时运行。',
  },
);

/** The saved workflow's schedule (null: not cron-triggered) and the next run the server computed. */
export interface SavedSchedule {
  schedule: Schedule | null;
  nextRunAt: number | null;
}

/** What to say of a cron trigger's next run: known only for the saved schedule of an enabled workflow. */
function nextRunText(draft: Schedule | null, saved: SavedSchedule | null, enabled: boolean): string | null {
  if (!draft) return null;
  if (!enabled) return t('notScheduled');
  if (!saved) return null; // read again after a save or a switch
  if (saved.schedule?.from !== draft.from || saved.schedule.cron !== draft.cron) return t('saveToSchedule');
  return saved.nextRunAt === null ? null : t('nextRun', { time: formatTime(saved.nextRunAt) });
}

function NextRun({ draft, saved, enabled }: { draft: Schedule | null; saved: SavedSchedule | null; enabled: boolean }) {
  const text = nextRunText(draft, saved, enabled);
  return text ? (
    <p class="muted" data-testid="next-run">
      {text}
    </p>
  ) : null;
}

function CopyField({ value }: { value: string }) {
  const [state, setState] = useState<'' | 'copied' | 'copyFailed'>('');
  return (
    <Field label={t('url')} hint={t('secret')}>
      {(id) => (
        <>
          <div class="wf-input">
            <input id={id} readOnly value={value} data-testid="webhook-url" onFocus={(e) => e.currentTarget.select()} />
            <button
              type="button"
              onClick={() =>
                navigator.clipboard.writeText(value).then(
                  () => setState('copied'),
                  () => setState('copyFailed'),
                )
              }
            >
              {t('copy')}
            </button>
          </div>
          {state && (
            <span class={state === 'copied' ? 'note ok' : 'note error'} role="status">
              {t(state)}
            </span>
          )}
        </>
      )}
    </Field>
  );
}

export function TriggerPanel({
  step,
  modules,
  taken,
  issues,
  webhookUrl,
  legacy,
  schedule,
  onChange,
}: {
  step: DraftStep | null;
  modules: Modules;
  taken: string[];
  issues: Issue[];
  webhookUrl: string | null;
  legacy: Record<string, unknown> | null;
  /** The schedule the draft would save, the saved one, and whether the workflow is enabled. */
  schedule: { draft: Schedule | null; saved: SavedSchedule | null; enabled: boolean };
  onChange: (step: DraftStep | null) => void;
}) {
  const triggers = [...modules.byId.values()].filter((m) => m.metadata.category === 'trigger');
  const form = step ? modules.forms.get(step.moduleId) : undefined;
  const legacyType = typeof legacy?.type === 'string' ? legacy.type : null;
  return (
    <section class="card" aria-labelledby="wf-trigger-title" data-testid="trigger">
      <h2 id="wf-trigger-title">{t('title')}</h2>
      <Field label={t('how')} hint={t('enabledOnly')}>
        {(id) => (
          <select
            id={id}
            value={step?.moduleId ?? ''}
            data-testid="trigger-kind"
            onChange={(e) => {
              const moduleId = e.currentTarget.value;
              onChange(moduleId ? newStep(moduleId, taken, modules) : null);
            }}
          >
            <option value="">{t('none')}</option>
            {triggers.map((m) => (
              <option key={m.id} value={m.id}>
                {pick(m.metadata.name, m.metadata.nameEn)}
              </option>
            ))}
          </select>
        )}
      </Field>
      {!step && legacyType && legacyType !== 'manual' && <p class="muted">{t('legacy', { type: legacyType })}</p>}
      {step &&
        form?.schema.map((field) => (
          <ParamField
            key={field.key}
            field={field}
            input={form.inputs[field.key]}
            value={step.values[field.key]}
            issue={issues.find((i) => i.input === field.key)}
            visible={{ vars: null, before: new Set(), loops: new Set() }}
            onChange={(v) => onChange({ ...step, values: { ...step.values, [field.key]: v } })}
          />
        ))}
      {step?.moduleId === 'trigger_schedule' && <p class="muted">{t('utc')}</p>}
      <NextRun {...schedule} />
      {step?.moduleId === 'trigger_webhook' && (webhookUrl ? <CopyField value={webhookUrl} /> : <p class="muted">{t('saveFirst')}</p>)}
      {issues
        .filter((i) => !i.input || !form?.schema.some((f) => f.key === i.input))
        .map((i, n) => (
          <p key={n} class="wf-issue" role="alert">
            {i.message}
          </p>
        ))}
    </section>
  );
}
