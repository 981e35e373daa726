// What the studio reads from and sends to star-graph (/api/v1): the catalogue of models and
// generators, the caller's balance, generation answers and tasks.
import { ApiError, get } from '../../api';

export type GeneratorType = 'TEXT2IMG' | 'IMG2IMG' | 'UPSCALE' | 'POSE' | 'TEXT2VIDEO' | 'IMG2VIDEO';
/** star-graph's task states; comfy-manager tasks show here too, under their own `type`. */
export type TaskStatus = 'PENDING' | 'PROCESSING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

/** Credits: `base + perUnit × units`. */
export interface Price {
  base: number;
  perUnit: number;
  unit: 'image' | 'second';
}

export interface GeneratorOffer {
  type: GeneratorType;
  price: Price;
  /** What a request with only its required fields gets (`seed` -1: random). */
  defaults: Record<string, unknown>;
  /** Every parameter a request may send, in the order a form shows them. */
  params: ParamView[];
}

/** One request parameter and the values the server accepts; keys that do not apply are absent. */
export interface ParamView {
  name: string;
  /**
   * `prompt`: text of at most `max` characters; `model`: a name from `models`; `integer`: `min`..`max`,
   * a multiple of `multipleOf`; `number`: `min`..`max`; `enum`: one of `options`; `image`: sent as
   * `<name>Base64` (a data URL) or `<name>Url`, exactly one.
   */
  type: 'prompt' | 'model' | 'integer' | 'number' | 'enum' | 'boolean' | 'image';
  required: boolean;
  min?: number;
  max?: number;
  multipleOf?: number;
  options?: (string | number)[];
}

export interface ModelOffer {
  name: string;
  defaultFor: GeneratorType[];
}

export interface Catalogue {
  models: ModelOffer[];
  generators: GeneratorOffer[];
}

export interface Balance {
  balance: number;
  freezed: number;
  available: number;
  todayUsed: number;
  monthUsed: number;
}

/** A generator's answer. */
export interface Accepted {
  taskId: string;
  queuePosition: number;
  /** Seconds. */
  estimatedTime: number;
  cost: number;
}

export interface TaskSummary {
  id: string;
  type: string;
  status: TaskStatus;
  progress: number;
  prompt: string | null;
  results: string[];
  cost: number;
  createTime: string;
  completeTime: string | null;
}

export interface ResultFile {
  url: string;
  thumbnailUrl: string | null;
  size: number;
  width: number | null;
  height: number | null;
  /** PNG, JPEG, WEBP, GIF, MP4 or WEBM. */
  format: string;
}

export interface TaskDetail {
  id: string;
  type: string;
  status: TaskStatus;
  progress: number;
  prompt: string | null;
  negativePrompt: string | null;
  parameters: Record<string, unknown> | null;
  results: ResultFile[];
  cost: number;
  /** 1-based place in Gantry's queue while the task waits there; null once an instance has it. */
  queuePosition: number | null;
  /** Seconds until it is expected to finish, while it waits. */
  estimatedTime: number | null;
  queueTime: number | null;
  processTime: number | null;
  createTime: string;
  startTime: string | null;
  completeTime: string | null;
  errorCode: string | null;
  error: string | null;
}

export interface Retried {
  newTaskId: string;
  queuePosition: number;
  cost: number;
}

export interface PageOf<T> {
  content: T[];
  totalElements: number;
  totalPages: number;
  page: number;
  pageSize: number;
}

export const loadCatalogue = () => get<Catalogue>('/api/v1/models');
export const loadBalance = () => get<Balance>('/api/v1/users/balance');
export const loadTask = (id: string) => get<TaskDetail>(`/api/v1/tasks/${encodeURIComponent(id)}`);

export function isFinished(status: TaskStatus): boolean {
  return status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED';
}

/** The credits a request costs under `price` for `units` images or seconds. */
export function costOf(price: Price, units: number): number {
  return price.base + price.perUnit * units;
}

/** Whether a result is a video file (`<video>`); animated WebP and GIF are images. */
export function isVideo(formatOrUrl: string): boolean {
  return /^(mp4|webm)$/i.test(formatOrUrl) || /\.(mp4|webm)(\?|$)/i.test(formatOrUrl);
}

/** The file name a result URL ends with, for downloads. */
export function fileName(url: string): string {
  try {
    return decodeURIComponent(new URL(url, location.href).pathname.split('/').pop() ?? '') || 'result';
  } catch {
    return 'result';
  }
}

/** `call`'s answer; a refusal's message starts with star-graph's business code (E002, …) when it has one. */
export async function coded<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof ApiError && typeof error.code === 'string' && /^E\d{3}$/.test(error.code)) {
      throw new ApiError(`${error.code}: ${error.message}`, error.status, error.code, error.details);
    }
    throw error;
  }
}
