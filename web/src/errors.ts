// What went wrong, in the chosen language. Servers answer in English; a refusal's dialect
// code (star-graph's "E002", vflow's 6002) or else its HTTP status picks a short sentence
// here, and the server's own message follows it as the detail when it adds something.
// English keeps the server's message as it is, since it already reads in English.
import type { ApiError } from './api';
import { lang, messages } from './i18n';

type Key =
  | 'network'
  | 'badRequest'
  | 'signInAgain'
  | 'balance'
  | 'forbidden'
  | 'notFound'
  | 'method'
  | 'conflict'
  | 'tooLarge'
  | 'mediaType'
  | 'unprocessable'
  | 'tooMany'
  | 'server'
  | 'unavailable'
  | 'failed'
  | 'E001'
  | 'E002'
  | 'E003'
  | 'E004'
  | 'E005'
  | 'E006'
  | 'E007'
  | 'E008'
  | 'signIn'
  | 'expired'
  | 'notJson'
  | 'fileFormat';

// Sentences without their final stop: `apiErrorText` adds it, or a colon and the detail.
const en: Record<Key, string> = {
  network: 'The server could not be reached',
  badRequest: 'The request is invalid',
  signInAgain: 'Please sign in again',
  balance: 'Your balance is too low',
  forbidden: 'You are not allowed to do this',
  notFound: 'Not found',
  method: 'This action is not supported here',
  conflict: 'This conflicts with the current state: it may already exist, or its state does not allow it',
  tooLarge: 'The request is too large',
  mediaType: 'This kind of content is not supported',
  unprocessable: 'The request could not be processed',
  tooMany: 'Too many requests; please try again later',
  server: 'The server ran into an error',
  unavailable: 'The service is unavailable; please try again later',
  failed: 'The request failed (HTTP {status})',
  E001: 'The model is unavailable',
  E002: 'Your balance is too low',
  E003: 'The queue is full; please try again later',
  E004: 'This image format is not supported; use JPEG, PNG or WebP',
  E005: 'The image is too large',
  E006: 'The prompt contains a forbidden word',
  E007: 'No GPU instance is available; please try again later',
  E008: 'The task timed out',
  signIn: 'Please sign in',
  expired: 'Your session has expired; please sign in again',
  notJson: 'The request body is not JSON',
  fileFormat: 'This file format is not supported',
};

const zh: Record<Key, string> = {
  network: '无法连接服务器',
  badRequest: '请求有误',
  signInAgain: '请重新登录',
  balance: '余额不足',
  forbidden: '没有权限执行此操作',
  notFound: '请求的内容不存在',
  method: '不支持此操作',
  conflict: '与当前状态冲突（可能已存在，或当前状态不允许此操作）',
  tooLarge: '请求内容过大',
  mediaType: '不支持此内容类型',
  unprocessable: '请求无法处理',
  tooMany: '请求过于频繁，请稍后再试',
  server: '服务器出错',
  unavailable: '服务暂时不可用，请稍后再试',
  failed: '请求失败（HTTP {status}）',
  E001: '模型不可用',
  E002: '余额不足',
  E003: '任务队列已满，请稍后再试',
  E004: '不支持此图片格式，请使用 JPEG、PNG 或 WebP',
  E005: '图片过大',
  E006: '提示词包含违禁词',
  E007: '暂无可用的 GPU 实例，请稍后再试',
  E008: '任务超时',
  signIn: '请登录',
  expired: '登录已过期，请重新登录',
  notJson: '请求内容不是 JSON',
  fileFormat: '不支持此文件格式',
};

const t = messages(en, zh);

const BY_STATUS: Record<number, Key> = {
  400: 'badRequest',
  401: 'signInAgain',
  402: 'balance',
  403: 'forbidden',
  404: 'notFound',
  405: 'method',
  409: 'conflict',
  413: 'tooLarge',
  415: 'mediaType',
  422: 'unprocessable',
  429: 'tooMany',
  500: 'server',
  502: 'unavailable',
  503: 'unavailable',
  504: 'unavailable',
};

// HTTP reason phrases: the client falls back to the status text when a body has no message,
// and a detail that only repeats it adds nothing to the sentence.
const REASONS = new Set(
  [
    'Bad Request', 'Unauthorized', 'Payment Required', 'Forbidden', 'Not Found', 'Method Not Allowed',
    'Request Timeout', 'Conflict', 'Gone', 'Payload Too Large', 'Content Too Large', 'Request Entity Too Large',
    'Unsupported Media Type', 'Unprocessable Entity', 'Unprocessable Content', 'Too Many Requests',
    'Internal Server Error', 'Not Implemented', 'Bad Gateway', 'Service Unavailable', 'Gateway Timeout',
  ].map((reason) => reason.toLowerCase()),
);

type Failure = Pick<ApiError, 'message' | 'status' | 'code'>;

/** Which sentence describes a failure: the dialect's code first, then the HTTP status. */
function keyOf({ status, code }: Failure): Key {
  if (status === 0 || code === 'NETWORK') return 'network';
  if (typeof code === 'string' && /^E00[1-8]$/.test(code)) return code as Key;
  const numeric = typeof code === 'number' ? code : typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : null;
  switch (numeric) {
    case 6001:
      return 'signIn';
    case 6002:
      return 'expired';
    case 6003:
      return 'forbidden';
    case 8001:
      // A body that is not JSON (415), or an imported file in another format (400).
      return status === 415 ? 'notJson' : 'fileFormat';
    case 8002:
      return 'tooLarge';
  }
  return BY_STATUS[status] ?? (status >= 500 ? 'server' : 'failed');
}

const normal = (text: string) => text.trim().replace(/[.。!！]+$/, '').toLowerCase();

/** The server's message when it says more than the sentence: not empty, no bare reason phrase, no HTML page. */
function detailOf(failure: Failure, key: Key): string {
  let detail = message(failure);
  // The studio prefixes star-graph's business code ("E002: …"); the sentence names it.
  if (typeof failure.code === 'string' && detail.startsWith(`${failure.code}:`)) detail = detail.slice(failure.code.length + 1).trim();
  if (!detail || detail === String(failure.code)) return '';
  const plain = normal(detail);
  if (REASONS.has(plain) || plain === normal(en[key].replace('{status}', String(failure.status)))) return '';
  return detail;
}

/** The server's message, or nothing where it is empty or a whole HTML page (a proxy's error page). */
function message(failure: Failure): string {
  const text = failure.message.trim();
  return /^<(!doctype|html)\b/i.test(text) ? '' : text;
}

/** A refusal in the chosen language: the sentence for its code or status, then the server's detail. */
export function apiErrorText(failure: Failure): string {
  const key = keyOf(failure);
  if (key === 'network') return `${t('network')}${lang.value === 'zh' ? '。' : '.'}`;
  if (lang.value === 'zh') {
    const detail = detailOf(failure, key);
    const sentence = /^E\d{3}$/.test(key) ? `${t(key)}（${key}）` : t(key, { status: failure.status });
    return detail ? `${sentence}：${detail}` : `${sentence}。`;
  }
  // English: the server's message as it is (it already reads in English), else the sentence.
  return message(failure) ? failure.message : `${t(key, { status: failure.status })}.`;
}
