// What only the client knows about the generators: where each one posts and which parameters
// wait under "More settings". Which parameters each takes, and the values they accept, come from
// GET /api/v1/models (`params`); the server checks them again on submit.
import type { ImageChoice } from './image-input';
import type { GeneratorType, ParamView } from './model';

/** POST /api/v1/generate/<path>, in the order the tabs show the generators. */
const PATHS: Record<GeneratorType, string> = {
  TEXT2IMG: 'text2img',
  IMG2IMG: 'img2img',
  UPSCALE: 'upscale',
  POSE: 'pose',
  TEXT2VIDEO: 'text2video',
  IMG2VIDEO: 'img2video',
};

export const GENERATOR_TYPES = Object.keys(PATHS) as GeneratorType[];

export const generatePath = (type: GeneratorType) => `/api/v1/generate/${PATHS[type]}`;

const MORE = new Set(['steps', 'cfgScale', 'seed', 'sampler', 'scheduler', 'denoise', 'motionBucketId', 'augmentationLevel']);

/** Whether a parameter is shown under "More settings" rather than up front. */
export const isMore = (param: ParamView) => MORE.has(param.name);

/** Whether a parameter is typed or picked as a whole field of its own (a prompt, an image). */
export const isWide = (param: ParamView) => param.type === 'prompt' || param.type === 'image';

/** A form's values: text as typed (numbers included), switches as booleans. */
export type Values = Record<string, string | boolean>;

/** What a form holds besides its values, by parameter name: kept across generators. */
export interface Inputs {
  texts: Record<string, string>;
  images: Record<string, ImageChoice>;
}

/** The form's starting values: the server's defaults for every parameter kept in `Values`. */
export function initialValues(params: ParamView[], defaults: Record<string, unknown>): Values {
  const values: Values = {};
  for (const param of params.filter((p) => !isWide(p))) {
    const value = defaults[param.name];
    values[param.name] = param.type === 'boolean' ? value === true : value === undefined || value === null ? '' : String(value);
  }
  return values;
}

/** The request body: blank fields are left out so the server's defaults apply. */
export function requestBody(params: ParamView[], values: Values, { texts, images }: Inputs) {
  const body: Record<string, unknown> = {};
  for (const { name, type, required, options } of params) {
    const value = values[name];
    if (type === 'prompt') {
      const text = texts[name] ?? '';
      if (required || text.trim()) body[name] = text;
    } else if (type === 'image') {
      const { data, url } = images[name] ?? {};
      if (data) body[`${name}Base64`] = data;
      else if (url?.trim()) body[`${name}Url`] = url.trim();
    } else if (type === 'boolean') body[name] = value === true;
    else if (typeof value === 'string' && value.trim() !== '') {
      const numeric = type === 'integer' || type === 'number' || typeof options?.[0] === 'number';
      body[name] = numeric ? Number(value) : value;
    }
  }
  return body;
}

/** What the price counts in this request: images of the batch or seconds of video. */
export function unitsOf(unit: 'image' | 'second', values: Values, defaults: Record<string, unknown>): number {
  const name = unit === 'second' ? 'duration' : 'batchSize';
  const typed = values[name];
  const value = typeof typed === 'string' && typed.trim() !== '' ? Number(typed) : Number(defaults[name] ?? 1);
  return Number.isFinite(value) ? value : 1;
}
