// One workflow's editor: its settings, its trigger, its steps as nested blocks, and a run
// panel. Saving sends the whole workflow (`PUT /api/v1/workflows/{id}`); when the server
// refuses it, each problem it names is shown on its step and input.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { ApiError, get, post, put } from '../../api';
import { messages } from '../../i18n';
import { ErrorNote, Field, Loaded, Page, useAction, useResource } from '../../ui';
import { move, remove, tree } from './blocks';
import { type DraftStep, type Modules, blockType, isTrigger, newStep, scopes, toDraft, toSteps } from './draft';
import {
  type Category,
  type Folder,
  type Issue,
  type MagicVariables,
  type ModuleSummary,
  type Workflow,
  inputVariableNames,
  loadCatalogue,
  loadForm,
  scheduleOf,
} from './model';
import { Palette } from './palette';
import { RunPanel } from './run';
import { StepTree, type TreeContext } from './steps';
import { type SavedSchedule, TriggerPanel } from './trigger';

const t = messages(
  {
    loading: 'Workflow',
    back: 'All workflows',
    executions: 'Executions',
    untitled: 'Untitled workflow',
    steps: 'Steps',
    expandAll: 'Open every step',
    collapseAll: 'Close every step',
    settings: 'Settings',
    name: 'Name',
    description: 'Description',
    folder: 'Folder',
    noFolder: 'No folder',
    tags: 'Tags',
    tagsHint: 'Separated by commas.',
    maxTime: 'Time limit (seconds)',
    maxTimeHint: 'Empty or 0: no limit.',
    favorite: 'Favourite',
    enabled: 'Enabled',
    save: 'Save',
    saving: 'Saving…',
    saved: 'Saved.',
    unsaved: 'Unsaved changes.',
    problems: 'The server found {n} problem(s); each is shown on its step.',
    newOutputs: 'Outputs of steps added since the last save are offered once you save.',
    leave: 'This workflow has unsaved changes.',
  },
  {
    loading: '工作流',
    back: '全部工作流',
    executions: '执行记录',
    untitled: '未命名工作流',
    steps: '步骤',
    expandAll: '展开全部步骤',
    collapseAll: '收起全部步骤',
    settings: '设置',
    name: '名称',
    description: '描述',
    folder: '文件夹',
    noFolder: '不在文件夹中',
    tags: '标签',
    tagsHint: '用逗号分隔。',
    maxTime: '时间上限（秒）',
    maxTimeHint: '留空或 0：不限。',
    favorite: '收藏',
    enabled: '已启用',
    save: '保存',
    saving: '保存中…',
    saved: '已保存。',
    unsaved: '有未保存的修改。',
    problems: '服务器发现 {n} 个问题，已标注在对应步骤上。',
    newOutputs: '保存后即可引用新添加步骤的输出。',
    leave: '此工作流有未保存的修改。',
  },
);

interface EditorData {
  workflow: Workflow;
  modules: Modules;
  list: ModuleSummary[];
  categories: Category[];
  folders: Folder[];
}

async function load(id: string): Promise<EditorData> {
  const [workflow, catalogue, folders] = await Promise.all([
    get<Workflow>(`/api/v1/workflows/${encodeURIComponent(id)}`),
    loadCatalogue(),
    get<{ folders: Folder[] }>('/api/v1/folders'),
  ]);
  const byId = new Map(catalogue.modules.map((m) => [m.id, m]));
  const wanted = new Set([...workflow.steps.map((s) => s.moduleId), ...catalogue.modules.filter((m) => m.metadata.category === 'trigger').map((m) => m.id)]);
  const forms = new Map(await Promise.all([...wanted].filter((m) => byId.has(m)).map(async (m) => [m, await loadForm(m)] as const)));
  return { workflow, modules: { byId, forms }, list: catalogue.modules, categories: catalogue.categories, folders: folders.folders };
}

/** The issues of a refused save or run, when the server named any. */
function issuesOf(error: unknown): Issue[] {
  const details = error instanceof ApiError ? (error.details as { issues?: Issue[] } | null) : null;
  return Array.isArray(details?.issues) ? details.issues : [];
}

/** The saved workflow's schedule and the next run the server computed for it. */
function savedSchedule(w: Workflow): SavedSchedule {
  return { schedule: scheduleOf(w.steps, w.triggerConfig), nextRunAt: w.nextRunAt ?? null };
}

// The longest wait `setTimeout` keeps (about 24.8 days).
const LONGEST_TIMEOUT = 0x7fffffff;

function Settings({ meta, folders, onChange }: { meta: Meta; folders: Folder[]; onChange: (patch: Partial<Meta>) => void }) {
  return (
    <section class="card" aria-labelledby="wf-settings-title">
      <h2 id="wf-settings-title">{t('settings')}</h2>
      <Field label={t('name')}>{(id) => <input id={id} value={meta.name} data-testid="workflow-name" onInput={(e) => onChange({ name: e.currentTarget.value })} />}</Field>
      <Field label={t('description')}>{(id) => <textarea id={id} value={meta.description} onInput={(e) => onChange({ description: e.currentTarget.value })} />}</Field>
      <Field label={t('folder')}>
        {(id) => (
          <select id={id} value={meta.folderId} onChange={(e) => onChange({ folderId: e.currentTarget.value })}>
            <option value="">{t('noFolder')}</option>
            {folders.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label={t('tags')} hint={t('tagsHint')}>
        {(id) => <input id={id} value={meta.tags} onInput={(e) => onChange({ tags: e.currentTarget.value })} />}
      </Field>
      <Field label={t('maxTime')} hint={t('maxTimeHint')}>
        {(id) => <input id={id} type="number" min={0} value={meta.maxExecutionTime} onInput={(e) => onChange({ maxExecutionTime: e.currentTarget.value })} />}
      </Field>
      <label class="row">
        <input type="checkbox" checked={meta.isFavorite} onChange={(e) => onChange({ isFavorite: e.currentTarget.checked })} />
        {t('favorite')}
      </label>
    </section>
  );
}

interface Meta {
  name: string;
  description: string;
  folderId: string;
  tags: string;
  maxExecutionTime: string;
  isFavorite: boolean;
}

function EditorView({ data }: { data: EditorData }) {
  const { workflow, modules, folders } = data;
  const [meta, setMeta] = useState<Meta>(() => ({
    name: workflow.name,
    description: workflow.description ?? '',
    folderId: workflow.folderId ?? '',
    tags: workflow.tags.join(', '),
    maxExecutionTime: workflow.maxExecutionTime ? String(workflow.maxExecutionTime) : '',
    isFavorite: workflow.isFavorite,
  }));
  const [all, setAll] = useState<DraftStep[]>(() => workflow.steps.map((s) => toDraft(s, modules)));
  const [enabled, setEnabled] = useState(workflow.isEnabled);
  const [dirty, setDirty] = useState(false);
  const [saved, setSaved] = useState(false);
  const [issues, setIssues] = useState<Issue[]>([]);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [adding, setAdding] = useState<number | null>(null);
  const [webhookUrl, setWebhookUrl] = useState(workflow.webhookUrl);
  // null while it is read again after a save or a switch (the server computes the next run).
  const [schedule, setSchedule] = useState<SavedSchedule | null>(() => savedSchedule(workflow));
  const reads = useRef(0);
  const readSchedule = (forget: boolean) => {
    const n = ++reads.current;
    if (forget) setSchedule(null);
    get<Workflow>(`/api/v1/workflows/${encodeURIComponent(workflow.id)}`).then(
      (w) => n === reads.current && setSchedule(savedSchedule(w)),
      () => undefined,
    );
  };
  const vars = useResource(() => get<MagicVariables>(`/api/v1/workflows/${encodeURIComponent(workflow.id)}/magic-variables`), [workflow.id]);

  useEffect(() => {
    if (!dirty) return;
    const warn = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = t('leave');
    };
    addEventListener('beforeunload', warn);
    return () => removeEventListener('beforeunload', warn);
  }, [dirty]);

  // Once the shown next run has passed, ask the server for the one after it.
  const nextRunAt = schedule?.nextRunAt ?? null;
  useEffect(() => {
    if (nextRunAt === null) return;
    const wait = Math.max(nextRunAt - Date.now() + 1000, 5000);
    if (wait > LONGEST_TIMEOUT) return;
    const timer = setTimeout(() => readSchedule(false), wait);
    return () => clearTimeout(timer);
  }, [nextRunAt]);

  const edit = (next: DraftStep[]) => {
    setAll(next);
    setDirty(true);
    setSaved(false);
  };
  const hasTrigger = all.length > 0 && isTrigger(modules, all[0].moduleId);
  const first = hasTrigger ? 1 : 0;
  const kinds = all.map((d) => blockType(modules, d.moduleId));
  const nodes = useMemo(() => tree(kinds), [kinds.join()]);
  const byStep = useMemo(() => {
    const map = new Map<string, Issue[]>();
    for (const issue of issues) map.set(issue.stepId, [...(map.get(issue.stepId) ?? []), issue]);
    return map;
  }, [issues]);

  /** Applies a list operation to the steps after the trigger. */
  const onBody = (op: (body: DraftStep[], index: number) => DraftStep[], index: number) => edit([...all.slice(0, first), ...op(all.slice(first), index - first)]);

  const refused = (error: unknown) => {
    const found = issuesOf(error);
    setIssues(found);
    if (found.length) setOpen(new Set([...open, ...found.map((i) => i.stepId)]));
  };

  const save = useAction(async () => {
    setSaved(false);
    const tags = meta.tags.split(',').map((s) => s.trim()).filter(Boolean);
    const body = {
      name: meta.name,
      description: meta.description,
      folderId: meta.folderId || null,
      tags,
      maxExecutionTime: meta.maxExecutionTime.trim() === '' ? 0 : Number(meta.maxExecutionTime),
      isFavorite: meta.isFavorite,
      steps: toSteps(all, modules),
    };
    try {
      const answer = await put<{ webhookUrl: string | null }>(`/api/v1/workflows/${encodeURIComponent(workflow.id)}`, body);
      setWebhookUrl(answer.webhookUrl);
    } catch (error) {
      refused(error);
      throw error;
    }
    setIssues([]);
    setDirty(false);
    setSaved(true);
    vars.reload();
    readSchedule(true);
  });

  // The switch shows the change at once and goes back if the server refuses it.
  const toggleEnabled = useAction(async (on: boolean) => {
    setEnabled(on);
    try {
      await post(`/api/v1/workflows/${encodeURIComponent(workflow.id)}/${on ? 'enable' : 'disable'}`);
    } catch (error) {
      setEnabled(!on);
      throw error;
    }
    readSchedule(true);
  });

  const addStep = async (at: number, moduleId: string) => {
    const summary = modules.byId.get(moduleId);
    const closer = summary?.blockBehavior.endBlockId;
    const ids = [moduleId, ...(closer && summary?.blockBehavior.blockType !== 'else' ? [closer] : [])];
    for (const m of ids) if (!modules.forms.has(m)) modules.forms.set(m, await loadForm(m));
    const taken = all.map((d) => d.id);
    const added = ids.map((m) => {
      const step = newStep(m, taken, modules);
      taken.push(step.id);
      return step;
    });
    edit([...all.slice(0, at), ...added, ...all.slice(at)]);
    setOpen(new Set([...open, added[0].id]));
  };
  const picking = useAction(addStep);

  const ctx: TreeContext = {
    all,
    modules,
    issues: byStep,
    vars: vars.data,
    scopes: scopes(all, modules),
    open,
    first,
    toggle: (id) => {
      const next = new Set(open);
      if (!next.delete(id)) next.add(id);
      setOpen(next);
    },
    change: (index, key, value) => edit(all.map((d, i) => (i === index ? { ...d, values: { ...d.values, [key]: value } } : d))),
    move: (index, by) => onBody((body, i) => move(body, kinds.slice(first), i, by), index),
    remove: (index) => onBody((body, i) => remove(body, kinds.slice(first), i), index),
    add: setAdding,
    addElse: (at) => {
      const elseModule = data.list.find((m) => m.blockBehavior.blockType === 'else');
      if (elseModule) void picking.run(at, elseModule.id);
    },
  };

  const setTrigger = (step: DraftStep | null) => edit([...(step ? [step] : []), ...all.slice(first)]);
  const steps = useMemo(() => toSteps(all, modules), [all]);
  const names = useMemo(() => inputVariableNames(steps), [steps]);

  return (
    <Page
      title={meta.name || t('untitled')}
      actions={
        <>
          <label class="wf-switch">
            <input type="checkbox" role="switch" checked={enabled} disabled={toggleEnabled.busy} data-testid="enabled" onChange={(e) => void toggleEnabled.run(e.currentTarget.checked)} />
            {t('enabled')}
          </label>
          <button type="button" class="primary" data-testid="save" disabled={save.busy} onClick={() => void save.run()}>
            {save.busy ? t('saving') : t('save')}
          </button>
        </>
      }
    >
      <nav class="row wf-crumbs">
        <a href="/workflows">← {t('back')}</a>
        <a href={`/workflows/executions?workflowId=${encodeURIComponent(workflow.id)}`}>{t('executions')}</a>
      </nav>
      <div aria-live="polite">
        {saved && (
          <p class="note ok" data-testid="saved">
            {t('saved')}
          </p>
        )}
        {dirty && <p class="muted">{t('unsaved')}</p>}
      </div>
      <ErrorNote error={save.error ?? toggleEnabled.error ?? picking.error} />
      {issues.length > 0 && (
        <p class="note error" data-testid="issues">
          {t('problems', { n: issues.length })}
        </p>
      )}
      <div class="wf-editor">
        <section class="card wf-main" aria-labelledby="wf-steps-title">
          <div class="row spread">
            <h2 id="wf-steps-title">{t('steps')}</h2>
            {open.size > 0 ? (
              <button type="button" class="link" data-testid="collapse-all" onClick={() => setOpen(new Set())}>
                {t('collapseAll')}
              </button>
            ) : (
              <button type="button" class="link" onClick={() => setOpen(new Set(all.map((d) => d.id)))}>
                {t('expandAll')}
              </button>
            )}
          </div>
          {dirty && <p class="muted">{t('newOutputs')}</p>}
          <ErrorNote error={vars.error} onRetry={vars.reload} />
          <StepTree nodes={nodes} ctx={ctx} />
        </section>
        <div class="wf-side">
          <TriggerPanel
            step={hasTrigger ? all[0] : null}
            modules={modules}
            taken={all.map((d) => d.id)}
            issues={hasTrigger ? (byStep.get(all[0].id) ?? []) : []}
            webhookUrl={webhookUrl}
            legacy={workflow.triggerConfig}
            schedule={{ draft: scheduleOf(steps, workflow.triggerConfig), saved: schedule, enabled }}
            onChange={setTrigger}
          />
          <RunPanel workflowId={workflow.id} names={names} dirty={dirty} beforeRun={() => (dirty ? save.run() : Promise.resolve(true))} onRefused={refused} />
          <Settings
            meta={meta}
            folders={folders}
            onChange={(patch) => {
              setMeta({ ...meta, ...patch });
              setDirty(true);
              setSaved(false);
            }}
          />
        </div>
      </div>
      {adding !== null && (
        <Palette
          modules={data.list}
          categories={data.categories}
          onPick={(moduleId) => void picking.run(adding, moduleId)}
          onClose={() => setAdding(null)}
        />
      )}
    </Page>
  );
}

export function Editor() {
  const { params } = useRoute();
  const id = params.id;
  const data = useResource(() => load(id), [id]);
  if (!data.data) {
    return (
      <Page title={t('loading')}>
        <Loaded resource={data}>{() => null}</Loaded>
      </Page>
    );
  }
  return <EditorView key={id} data={data.data} />;
}
