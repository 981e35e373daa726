// Bilingual labels (English, 简体中文): the browser's language picks one, the switch in the
// header changes it and remembers the choice. Each page keeps its own messages beside it.
import { effect, signal } from '@preact/signals';

export type Lang = 'en' | 'zh';

function initialLang(): Lang {
  const saved = localStorage.getItem('gantry.lang');
  if (saved === 'en' || saved === 'zh') return saved;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export const lang = signal<Lang>(initialLang());

effect(() => {
  document.documentElement.lang = lang.value === 'zh' ? 'zh-CN' : 'en';
});

export function setLang(next: Lang) {
  lang.value = next;
  localStorage.setItem('gantry.lang', next);
}

export type Vars = Record<string, string | number>;

/** A page's messages in both languages; the Chinese table must have every English key. */
export function messages<K extends string>(en: Record<K, string>, zh: Record<K, string>) {
  return (key: K, vars?: Vars): string => {
    const text = (lang.value === 'zh' ? zh : en)[key];
    return vars ? text.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? '')) : text;
  };
}

/** Dates and numbers in the chosen language. */
export function formatTime(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') return '—';
  const date = typeof value === 'number' ? new Date(value) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(lang.value === 'zh' ? 'zh-CN' : 'en-GB');
}

export function formatNumber(value: number): string {
  return value.toLocaleString(lang.value === 'zh' ? 'zh-CN' : 'en-GB');
}
