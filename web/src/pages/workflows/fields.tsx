// A step's form, generated from its module's input schema: one labelled widget per input,
// the `{{step.output}}` variables this step can see offered beside every text field, and
// the server's complaint about an input shown under it.
import { useRef } from 'preact/hooks';
import { messages } from '../../i18n';
import { Field } from '../../ui';
import { type InputDef, type Issue, type MagicVariables, type SchemaField, pick } from './model';

const t = messages(
  {
    required: '{label} (required)',
    insert: 'Insert a variable into {label}',
    insertShort: 'Insert variable…',
    steps: 'Step outputs',
    loops: 'Loop values',
    variables: 'Named variables',
    system: 'Run-wide values',
    range: 'From {min} to {max}; a variable may be used instead.',
    key: 'Key',
    value: 'Value',
    addPair: 'Add a pair',
    removePair: 'Remove pair {key}',
    unset: '(not set)',
    defaultIs: 'Default: {value}',
    onError: 'When this step fails',
    STOP: 'Stop the run',
    SKIP: 'Go on (outputs error and success)',
    RETRY: 'Try again',
    retries: 'Extra attempts',
    interval: 'Pause between attempts (ms)',
  },
  {
    required: '{label}（必填）',
    insert: '向{label}插入变量',
    insertShort: '插入变量…',
    steps: '步骤输出',
    loops: '循环变量',
    variables: '命名变量',
    system: '全局变量',
    range: '范围 {min} 至 {max}，也可填写变量。',
    key: '键',
    value: '值',
    addPair: '添加一项',
    removePair: '删除 {key}',
    unset: '（未设置）',
    defaultIs: '默认：{value}',
    onError: '此步骤失败时',
    STOP: '停止执行',
    SKIP: '继续（输出 error 与 success）',
    RETRY: '重试',
    retries: '额外尝试次数',
    interval: '重试间隔（毫秒）',
  },
);

/** The variables offered to a step: what the server lists, narrowed to what it can see. */
export interface Visible {
  vars: MagicVariables | null;
  /** Step ids that run before this step. */
  before: Set<string>;
  /** Ids of the loops around this step. */
  loops: Set<string>;
}

function VariablePicker({ label, visible, onPick }: { label: string; visible: Visible; onPick: (key: string) => void }) {
  const vars = visible.vars;
  if (!vars) return null;
  const seen = vars.magicVariables.filter((v) => visible.before.has(v.stepId) && (v.category !== 'Loop' || visible.loops.has(v.stepId)));
  const group = (category: string) => seen.filter((v) => v.category === category);
  const option = (v: { key: string; label: string; labelEn: string }) => (
    <option key={v.key} value={v.key}>
      {`${pick(v.label, v.labelEn)} · ${v.key}`}
    </option>
  );
  return (
    <select
      class="wf-picker"
      aria-label={t('insert', { label })}
      data-testid="variable-picker"
      value=""
      onChange={(e) => {
        const key = e.currentTarget.value;
        e.currentTarget.value = '';
        if (key) onPick(key);
      }}
    >
      <option value="">{t('insertShort')}</option>
      {(
        [
          ['Steps', 'steps'],
          ['Loop', 'loops'],
          ['Variables', 'variables'],
        ] as const
      ).map(([category, title]) => {
        const items = group(category);
        return items.length ? (
          <optgroup key={category} label={t(title)}>
            {items.map(option)}
          </optgroup>
        ) : null;
      })}
      <optgroup label={t('system')}>{vars.systemVariables.map(option)}</optgroup>
    </select>
  );
}

type Pairs = [string, string][];

/** Key/value rows; an empty map shows one empty row (rows without a key are not saved). */
function KeyValues({ id, label, field, pairs: given, onChange: set }: { id: string; label: string; field: SchemaField; pairs: Pairs; onChange: (v: Pairs) => void }) {
  const pairs: Pairs = given.length ? given : [['', '']];
  return (
    <div class="wf-kv">
      {pairs.map(([k, v], i) => (
        <div class="row" key={i}>
          <input id={i === 0 ? id : undefined} aria-label={`${label}: ${t('key')} ${i + 1}`} placeholder={field.keyPlaceholder} value={k} onInput={(e) => set(pairs.map((p, j) => (j === i ? [e.currentTarget.value, p[1]] : p)))} />
          <input aria-label={`${label}: ${t('value')} ${i + 1}`} placeholder={field.valuePlaceholder} value={v} onInput={(e) => set(pairs.map((p, j) => (j === i ? [p[0], e.currentTarget.value] : p)))} />
          <button type="button" class="danger" aria-label={t('removePair', { key: k || String(i + 1) })} title={t('removePair', { key: k || String(i + 1) })} onClick={() => set(pairs.filter((_, j) => j !== i))}>
            ✕
          </button>
        </div>
      ))}
      <button type="button" onClick={() => set([...pairs, ['', '']])}>
        {t('addPair')}
      </button>
    </div>
  );
}

function describeDefault(field: SchemaField): string | undefined {
  if (field.defaultValue === undefined || field.defaultValue === null || field.defaultValue === '') return undefined;
  return t('defaultIs', { value: typeof field.defaultValue === 'string' ? field.defaultValue : JSON.stringify(field.defaultValue) });
}

/** One input of a step. */
export function ParamField({
  field,
  input,
  value,
  issue,
  visible,
  onChange,
}: {
  field: SchemaField;
  input: InputDef | undefined;
  value: unknown;
  issue?: Issue;
  visible: Visible;
  onChange: (value: unknown) => void;
}) {
  const ref = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  const name = pick(field.label, field.labelEn) || field.key;
  const label = field.required ? t('required', { label: name }) : name;
  const description = input ? pick(input.description, input.descriptionEn) : '';
  const hints = [description !== name ? description : '', field.type === 'number_slider' && field.min !== undefined ? t('range', { min: field.min, max: field.max ?? '∞' }) : '', field.type === 'dropdown' ? '' : (describeDefault(field) ?? '')]
    .filter(Boolean)
    .join(' · ');
  const text = typeof value === 'string' ? value : '';
  const placeholder = field.placeholder ?? (typeof field.defaultValue === 'string' || typeof field.defaultValue === 'number' ? String(field.defaultValue) : undefined);
  const insert = (key: string) => {
    const el = ref.current;
    const at = el?.selectionStart ?? text.length;
    const end = el?.selectionEnd ?? at;
    onChange(text.slice(0, at) + key + text.slice(end));
    requestAnimationFrame(() => {
      el?.focus();
      el?.setSelectionRange(at + key.length, at + key.length);
    });
  };
  const widget = (id: string) => {
    const bad = issue ? { 'aria-invalid': true as const, 'aria-describedby': `${id}-issue` } : {};
    switch (field.type) {
      case 'switch':
        return <input id={id} type="checkbox" checked={value === true} onChange={(e) => onChange(e.currentTarget.checked)} {...bad} />;
      case 'dropdown':
        return (
          <select id={id} value={text} onChange={(e) => onChange(e.currentTarget.value)} {...bad}>
            <option value="">{describeDefault(field) ?? t('unset')}</option>
            {(field.options ?? []).map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        );
      case 'key_value_editor':
        return <KeyValues id={id} label={name} field={field} pairs={Array.isArray(value) ? (value as Pairs) : []} onChange={onChange} />;
      case 'text_area':
      case 'code_editor':
        return (
          <textarea
            id={id}
            ref={ref}
            class={field.type === 'code_editor' ? 'code' : undefined}
            placeholder={placeholder}
            value={text}
            spellcheck={field.type !== 'code_editor'}
            onInput={(e) => onChange(e.currentTarget.value)}
            {...bad}
          />
        );
      default:
        return (
          <input
            id={id}
            ref={ref}
            inputMode={field.type === 'number_slider' ? 'decimal' : undefined}
            placeholder={placeholder}
            value={text}
            onInput={(e) => onChange(e.currentTarget.value)}
            {...bad}
          />
        );
    }
  };
  const takesText = field.type !== 'switch' && field.type !== 'dropdown' && field.type !== 'key_value_editor';
  return (
    <div class={issue ? 'wf-field invalid' : 'wf-field'} data-testid={`input-${field.key}`}>
      <Field label={label} hint={hints || undefined}>
        {(id) => (
          <>
            <div class="wf-input">
              {widget(id)}
              {takesText && <VariablePicker label={name} visible={visible} onPick={insert} />}
            </div>
            {issue && (
              <p class="wf-issue" id={`${id}-issue`} role="alert">
                {issue.message}
              </p>
            )}
          </>
        )}
      </Field>
    </div>
  );
}

/** The reserved `__error_policy`, `__retry_count` and `__retry_interval` parameters. */
export function ErrorPolicy({ values, issue, onChange }: { values: Record<string, unknown>; issue?: Issue; onChange: (key: string, value: string) => void }) {
  const policy = String(values.__error_policy ?? '').toUpperCase() || 'STOP';
  return (
    <div class="wf-policy">
      <Field label={t('onError')}>
        {(id) => (
          <select id={id} value={policy} onChange={(e) => onChange('__error_policy', e.currentTarget.value === 'STOP' ? '' : e.currentTarget.value)}>
            {(['STOP', 'SKIP', 'RETRY'] as const).map((p) => (
              <option key={p} value={p}>
                {t(p)}
              </option>
            ))}
          </select>
        )}
      </Field>
      {policy === 'RETRY' && (
        <div class="row">
          <Field label={t('retries')} hint={t('defaultIs', { value: 3 })}>
            {(id) => <input id={id} inputMode="numeric" value={String(values.__retry_count ?? '')} onInput={(e) => onChange('__retry_count', e.currentTarget.value)} />}
          </Field>
          <Field label={t('interval')} hint={t('defaultIs', { value: 1000 })}>
            {(id) => <input id={id} inputMode="numeric" value={String(values.__retry_interval ?? '')} onInput={(e) => onChange('__retry_interval', e.currentTarget.value)} />}
          </Field>
        </div>
      )}
      {issue && (
        <p class="wf-issue" role="alert">
          {issue.message}
        </p>
      )}
    </div>
  );
}
