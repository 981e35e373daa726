// One generator parameter as a labelled input: a number within the server's bounds, a fixed
// choice, a switch or a model.
import { Field } from '../../ui';
import type { Values } from './generators';
import type { GeneratorType, ModelOffer, ParamView } from './model';
import { paramLabel, t } from './text';

/** The spinner's step for decimals; the server takes any value within bounds. */
const DECIMAL_STEP = 0.01;

interface Props {
  param: ParamView;
  values: Values;
  type: GeneratorType;
  models: ModelOffer[];
  /** The server's default for this parameter. */
  fallback: unknown;
  onChange: (name: string, value: string | boolean) => void;
}

/** The models to offer: those this generator uses by default first, and the server's default always. */
function modelChoices(models: ModelOffer[], type: GeneratorType, fallback: unknown): { name: string; preferred: boolean }[] {
  const choices = models.map((m) => ({ name: m.name, preferred: m.defaultFor.includes(type) }));
  if (typeof fallback === 'string' && !choices.some((c) => c.name === fallback)) choices.push({ name: fallback, preferred: true });
  return choices.sort((a, b) => Number(b.preferred) - Number(a.preferred));
}

export function ParamField({ param, values, type, models, fallback, onChange }: Props) {
  const label = paramLabel(param);
  const value = values[param.name];
  const name = param.name;
  if (param.type === 'boolean') {
    return (
      <label class="studio-check">
        <input type="checkbox" name={name} checked={value === true} onChange={(e) => onChange(name, e.currentTarget.checked)} />
        {label}
      </label>
    );
  }
  if (param.type === 'model' || param.type === 'enum') {
    const options =
      param.type === 'model'
        ? modelChoices(models, type, fallback).map((c) => ({ value: c.name, text: c.name === fallback ? t('defaultModel', { name: c.name }) : c.name }))
        : (param.options ?? []).map((o) => ({ value: String(o), text: String(o) }));
    return (
      <Field label={label}>
        {(id) => (
          <select id={id} name={name} value={String(value)} onChange={(e) => onChange(name, e.currentTarget.value)}>
            {options.map((o) => (
              <option key={o.value} value={o.value}>
                {o.text}
              </option>
            ))}
          </select>
        )}
      </Field>
    );
  }
  return (
    <Field label={label} hint={name === 'seed' ? t('seedHint') : undefined}>
      {(id) => (
        <input
          id={id}
          name={name}
          type="number"
          inputMode={param.type === 'integer' ? 'numeric' : 'decimal'}
          min={param.min}
          max={param.max}
          step={param.type === 'integer' ? (param.multipleOf ?? 1) : DECIMAL_STEP}
          value={String(value)}
          placeholder={fallback === undefined ? undefined : String(fallback)}
          onInput={(e) => onChange(name, e.currentTarget.value)}
        />
      )}
    </Field>
  );
}
