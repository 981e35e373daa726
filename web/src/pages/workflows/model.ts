// The vflow shapes the workflow pages use, the module catalogue (fetched once, kept for the
// session), and the conversion between stored parameters and what the step forms edit.
import { get } from '../../api';
import { formatNumber, lang } from '../../i18n';

export interface Param {
  type: string;
  value: unknown;
}

export interface Step {
  id: string;
  moduleId: string;
  indentationLevel: number;
  parameters: Record<string, Param | unknown>;
}

/** `GET /api/v1/workflows` items. */
export interface WorkflowSummary {
  id: string;
  name: string;
  description: string;
  isEnabled: boolean;
  isFavorite: boolean;
  folderId: string | null;
  stepCount: number;
  modifiedAt: number | null;
  tags: string[];
  version: string;
  /** When the cron trigger next starts it (ms); null unless enabled and cron-triggered. */
  nextRunAt: number | null;
}

/** `GET /api/v1/workflows/{id}`. */
export interface Workflow extends WorkflowSummary {
  steps: Step[];
  triggerConfig: Record<string, unknown> | null;
  maxExecutionTime: number | null;
  createdAt: number;
  webhookUrl: string | null;
}

export interface Folder {
  id: string;
  name: string;
  parentId: string | null;
  workflowCount: number;
  subfolderCount: number;
}

export type BlockType = 'none' | 'if' | 'else' | 'endif' | 'loop' | 'endloop' | 'foreach' | 'endforeach' | 'while' | 'endwhile';

export interface ModuleSummary {
  id: string;
  metadata: { name: string; nameEn: string; category: string; description: string; descriptionEn: string };
  blockBehavior: { blockType: BlockType; canStartWorkflow: boolean; endBlockId: string | null };
}

export interface Category {
  id: string;
  name: string;
  nameEn: string;
  order: number;
}

export type ValueType = 'string' | 'number' | 'boolean' | 'dictionary' | 'list' | 'any';

/** One input of `GET /api/v1/modules/{id}` (value type and descriptions). */
export interface InputDef {
  id: string;
  type: ValueType;
  description: string;
  descriptionEn: string;
}

/** One entry of `GET /api/v1/modules/{id}/input-schema` (the widget). */
export interface SchemaField {
  key: string;
  type: 'text_field' | 'text_area' | 'dropdown' | 'number_slider' | 'switch' | 'key_value_editor' | 'code_editor';
  label: string;
  labelEn: string;
  required: boolean;
  placeholder?: string;
  defaultValue?: unknown;
  options?: { value: string; label: string }[];
  min?: number;
  max?: number;
  step?: number;
  keyPlaceholder?: string;
  valuePlaceholder?: string;
  autocomplete?: { allowMagicVariables: boolean };
}

/** What the form of a module's step needs: its widgets and its inputs' value types. */
export interface ModuleForm {
  schema: SchemaField[];
  inputs: Record<string, InputDef>;
}

export interface MagicVariable {
  key: string;
  label: string;
  labelEn: string;
  stepId: string;
  category: 'Steps' | 'Loop' | 'Variables';
}

export interface SystemVariable {
  key: string;
  label: string;
  labelEn: string;
}

export interface MagicVariables {
  magicVariables: MagicVariable[];
  systemVariables: SystemVariable[];
}

/** One problem in `details.issues` of a refused save or run. */
export interface Issue {
  stepId: string;
  stepIndex: number;
  input: string | null;
  code: string;
  message: string;
}

export interface Execution {
  executionId: string;
  workflowId: string;
  workflowName: string;
  status: string;
  currentStepIndex?: number;
  totalSteps?: number;
  startedAt: number;
  completedAt: number | null;
  duration: number | null;
  outputs?: unknown;
  variables?: unknown;
  error: string | null;
  triggeredBy: string;
}

export interface LogLine {
  timestamp: number;
  level: 'info' | 'warning' | 'error';
  stepIndex: number | null;
  moduleId: string | null;
  message: string;
  details: unknown;
}

/** Where a workflow's cron schedule comes from: its first step or its legacy `triggerConfig`. */
export interface Schedule {
  from: 'step' | 'legacy';
  cron: string;
}

const TRIGGER_STEPS = ['trigger_schedule', 'trigger_webhook', 'trigger_event', 'trigger_manual'];
const SCHEDULE_TYPES = ['schedule', 'cron', 'trigger_schedule'];

/** The schedule that starts a workflow, read as the server reads it; null: not cron-triggered. */
export function scheduleOf(steps: Step[], triggerConfig: Record<string, unknown> | null): Schedule | null {
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  const first = steps[0];
  if (first && TRIGGER_STEPS.includes(first.moduleId)) {
    return first.moduleId === 'trigger_schedule' ? { from: 'step', cron: text(paramValue(first.parameters.cron)) } : null;
  }
  return SCHEDULE_TYPES.includes(text(triggerConfig?.type)) ? { from: 'legacy', cron: text(triggerConfig?.cron) } : null;
}

/** A name or label in the chosen language (the Chinese one when only it exists). */
export function pick(zh: string, en: string | undefined): string {
  return lang.value === 'zh' ? zh || en || '' : en || zh;
}

let catalogue: Promise<{ modules: ModuleSummary[]; categories: Category[] }> | null = null;

/** Every module and category, fetched once. */
export function loadCatalogue() {
  catalogue ??= Promise.all([
    get<{ modules: ModuleSummary[] }>('/api/v1/modules'),
    get<{ categories: Category[] }>('/api/v1/modules/categories'),
  ]).then(([m, c]) => ({ modules: m.modules, categories: [...c.categories].sort((a, b) => a.order - b.order) }));
  catalogue.catch(() => (catalogue = null));
  return catalogue;
}

const forms = new Map<string, Promise<ModuleForm>>();

/** A module's input schema and input types, fetched once per module. */
export function loadForm(moduleId: string): Promise<ModuleForm> {
  let form = forms.get(moduleId);
  if (!form) {
    const id = encodeURIComponent(moduleId);
    form = Promise.all([get<{ schema: SchemaField[] }>(`/api/v1/modules/${id}/input-schema`), get<{ inputs: InputDef[] }>(`/api/v1/modules/${id}`)]).then(
      ([s, d]) => ({ schema: s.schema, inputs: Object.fromEntries(d.inputs.map((i) => [i.id, i])) }),
    );
    form.catch(() => forms.delete(moduleId));
    forms.set(moduleId, form);
  }
  return form;
}

/** The raw value of a stored parameter (`{type, value}` or a bare value). */
export function paramValue(p: unknown): unknown {
  if (p && typeof p === 'object' && !Array.isArray(p) && 'value' in p && Object.keys(p).every((k) => k === 'value' || k === 'type')) {
    return (p as Param).value;
  }
  return p;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'dictionary';
  return typeof v === 'boolean' ? 'boolean' : typeof v === 'number' ? 'number' : 'string';
}

/** A parameter as the server stores it. */
export function toParam(value: unknown): Param {
  return { type: typeName(value), value };
}

/** What a form field shows for a stored value: text, a switch's boolean or key/value pairs. */
export function toEditable(field: SchemaField | undefined, value: unknown): unknown {
  if (field?.type === 'switch') return value === true || value === 'true';
  if (field?.type === 'key_value_editor' && value && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
  }
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value, null, typeof value === 'object' ? 2 : undefined);
}

const JSONISH = /^\s*(-?\d|true\b|false\b|null\b|\{|\[|")/;

/** The stored value of what a field holds, read by the input's type; `undefined`: unset. */
export function fromEditable(input: InputDef | undefined, field: SchemaField | undefined, edited: unknown): unknown {
  if (typeof edited === 'boolean') return edited;
  if (Array.isArray(edited)) {
    const pairs = (edited as [string, string][]).filter(([k]) => k.trim() !== '');
    return pairs.length ? Object.fromEntries(pairs) : undefined;
  }
  const text = String(edited ?? '');
  if (text.trim() === '') return undefined;
  if (text.includes('{{') || text.includes('[[')) return text;
  const type = input?.type ?? 'string';
  if (type === 'number') {
    const n = Number(text.trim());
    return Number.isFinite(n) ? n : text;
  }
  if (type === 'boolean' && /^(true|false)$/i.test(text.trim())) return text.trim().toLowerCase() === 'true';
  const structured = type === 'dictionary' || type === 'list' || (type === 'any' && JSONISH.test(text));
  if (structured && field?.type !== 'text_area') {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** `{name}` of every `{{vars.name}}` the steps use (the run's input variables). */
export function inputVariableNames(steps: Step[]): string[] {
  const names = new Set<string>();
  const re = /\{\{\s*vars\.([^.{}[\]\s"']+)/g;
  for (const step of steps) {
    for (const m of JSON.stringify(step.parameters).matchAll(re)) names.add(m[1]);
  }
  return [...names];
}

/** Starts a download of `data` as a JSON file. */
export function downloadJson(filename: string, data: unknown) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A run's length for people: milliseconds below a second, else seconds or minutes. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${formatNumber(ms)} ms`;
  if (ms < 120_000) return `${formatNumber(Math.round(ms / 100) / 10)} s`;
  return `${formatNumber(Math.round(ms / 6000) / 10)} min`;
}
