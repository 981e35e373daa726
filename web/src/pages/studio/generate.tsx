// The generators: pick one, fill in its request (prefilled from the server's defaults), see
// what it costs against the available credits, submit, and follow it beside the form.
import { post } from '../../api';
import { formatNumber } from '../../i18n';
import { ErrorNote, Field, Loaded, useAction, useResource } from '../../ui';
import { GENERATOR_TYPES, type Inputs, type Values, generatePath, initialValues, isMore, isWide, requestBody, unitsOf } from './generators';
import { ImageInput } from './image-input';
import { type Accepted, type Balance, type Catalogue, type GeneratorOffer, type GeneratorType, type ParamView, costOf, loadBalance, loadCatalogue, coded } from './model';
import { ParamField } from './param-field';
import { Credits } from './parts';
import { Session } from './session';
import { type Key, paramLabel, t } from './text';
import { finishedRound, perUser, track } from './tracker';

function Tabs({ current, onPick }: { current: GeneratorType; onPick: (type: GeneratorType) => void }) {
  return (
    <div class="studio-tabs" role="group" aria-label={t('generator')}>
      {GENERATOR_TYPES.map((type) => (
        <button key={type} type="button" aria-pressed={type === current} data-testid={`generator-${type}`} onClick={() => onPick(type)}>
          {t(type)}
        </button>
      ))}
    </div>
  );
}

function Cost({ offer, values, balance }: { offer: GeneratorOffer; values: Values; balance: Balance | null }) {
  const { price } = offer;
  const units = unitsOf(price.unit, values, offer.defaults);
  const cost = costOf(price, units);
  return (
    <div class="studio-cost" data-testid="cost" data-cost={cost}>
      <dl class="facts">
        <dt>{t('cost')}</dt>
        <dd>
          <strong>
            <Credits n={cost} />
          </strong>{' '}
          <small class="muted">{t('costRule', { base: price.base, perUnit: price.perUnit, unit: t(`unit_${price.unit}` as Key), units })}</small>
        </dd>
        {balance && (
          <>
            <dt>{t('available')}</dt>
            <dd data-testid="available">
              <Credits n={balance.available} />
            </dd>
          </>
        )}
      </dl>
      {balance && cost > balance.available && <p class="note error">{t('overBudget')}</p>}
    </div>
  );
}

/** What the form edits. */
interface Draft extends Inputs {
  values: Values;
}

interface FormProps {
  offer: GeneratorOffer;
  catalogue: Catalogue;
  balance: Balance | null;
  draft: Draft;
  onDraft: (draft: Draft) => void;
  onSubmitted: () => void;
}

function GenerateForm({ offer, catalogue, balance, draft, onDraft, onSubmitted }: FormProps) {
  const { texts, images, values } = draft;
  const { type, params } = offer;
  const submit = useAction(async () => {
    const accepted = await coded(post<Accepted>(generatePath(type), requestBody(params, values, draft)));
    track(accepted, type);
    onSubmitted();
  });
  const change = (name: string, value: string | boolean) => onDraft({ ...draft, values: { ...values, [name]: value } });
  const field = (param: ParamView) => {
    const { name } = param;
    if (param.type === 'image') {
      return <ImageInput key={name} label={paramLabel(param)} value={images[name] ?? {}} onChange={(next) => onDraft({ ...draft, images: { ...images, [name]: next } })} />;
    }
    if (param.type === 'prompt') {
      return (
        <Field key={name} label={paramLabel(param)}>
          {(id) => (
            <textarea
              id={id}
              name={name}
              rows={name === 'prompt' ? undefined : 2}
              required={param.required}
              maxLength={param.max}
              value={texts[name] ?? ''}
              onInput={(e) => onDraft({ ...draft, texts: { ...texts, [name]: e.currentTarget.value } })}
            />
          )}
        </Field>
      );
    }
    return <ParamField key={name} param={param} values={values} type={type} models={catalogue.models} fallback={offer.defaults[name]} onChange={change} />;
  };
  const more = params.filter(isMore);
  const cost = costOf(offer.price, unitsOf(offer.price.unit, values, offer.defaults));
  return (
    <form
      class="card studio-form"
      data-testid="generate-form"
      onSubmit={(e) => {
        e.preventDefault();
        void submit.run();
      }}
    >
      {params.filter((p) => isWide(p) && !isMore(p)).map(field)}
      <div class="studio-params">{params.filter((p) => !isWide(p) && !isMore(p)).map(field)}</div>
      {more.length > 0 && (
        <details class="studio-more">
          <summary>{t('more')}</summary>
          <div class="studio-params">{more.map(field)}</div>
        </details>
      )}
      <Cost offer={offer} values={values} balance={balance} />
      <ErrorNote error={submit.error} />
      <button class="primary" type="submit" disabled={submit.busy} data-testid="generate">
        {submit.busy ? t('submitting') : t('generate', { n: formatNumber(cost) })}
      </button>
    </form>
  );
}

/** The generator picked and what was typed, kept across generators and the studio's pages. */
const kept = perUser(() => ({
  type: 'TEXT2IMG' as GeneratorType,
  texts: {} as Inputs['texts'],
  images: {} as Inputs['images'],
  forms: {} as Partial<Record<GeneratorType, Values>>,
}));

function Generators({ catalogue }: { catalogue: Catalogue }) {
  const { type, texts, images, forms } = kept.value;
  const balance = useResource(loadBalance, [finishedRound.value]);
  const offer = catalogue.generators.find((g) => g.type === type);
  return (
    <div class="studio-create">
      <div>
        <Tabs current={type} onPick={(next) => (kept.value = { ...kept.value, type: next })} />
        {offer ? (
          <GenerateForm
            key={type}
            offer={offer}
            catalogue={catalogue}
            balance={balance.data}
            draft={{ texts, images, values: forms[type] ?? initialValues(offer.params, offer.defaults) }}
            onDraft={(draft) => (kept.value = { type, texts: draft.texts, images: draft.images, forms: { ...forms, [type]: draft.values } })}
            onSubmitted={balance.reload}
          />
        ) : null}
        <ErrorNote error={balance.error} onRetry={balance.reload} />
      </div>
      <Session />
    </div>
  );
}

export function Generate() {
  const catalogue = useResource(loadCatalogue);
  return <Loaded resource={catalogue}>{(data) => <Generators catalogue={data} />}</Loaded>;
}
